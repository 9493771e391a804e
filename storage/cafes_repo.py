"""Queries of the café feature (the only place with café SQL)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.clock import Clock
from storage.models import Member, Person
from storage.models_cafes import (
    Cafe, CafeBuddy, CafePrefs, CafeReminderSent, CafeRide, CafeRsvp, CafeSeries, CafeSettings,
)


class Cafes:
    def __init__(self, session: Session, clock: Clock) -> None:
        self.s = session
        self.clock = clock

    # -- cafés and series --------------------------------------------------------
    def add_cafe(self, *, group_id: int, community_id: int, starts_at: datetime, tz: str, place: str,
                 series_id: int | None = None, slot: str | None = None) -> Cafe:
        now = self.clock.now()
        cafe = Cafe(group_id=group_id, community_id=community_id, series_id=series_id, slot=slot,
                    starts_at=starts_at, timezone=tz, place=place, status="scheduled", sequence=0,
                    reminders_from=now, created_at=now)
        self.s.add(cafe)
        self.s.flush()
        return cafe

    def add_series(self, *, group_id: int, community_id: int, rule: str, rrule: str, local_time: str,
                   tz: str, place: str) -> CafeSeries:
        series = CafeSeries(group_id=group_id, community_id=community_id, rule=rule, rrule=rrule,
                            local_time=local_time, timezone=tz, place=place, active=True,
                            created_at=self.clock.now())
        self.s.add(series)
        self.s.flush()
        return series

    def get(self, cafe_id: int) -> Cafe | None:
        return self.s.get(Cafe, cafe_id)

    def series(self, series_id: int) -> CafeSeries | None:
        return self.s.get(CafeSeries, series_id)

    def active_series(self) -> list[CafeSeries]:
        return list(self.s.scalars(select(CafeSeries).where(CafeSeries.active.is_(True)).order_by(CafeSeries.id)))

    def slots(self, series_id: int) -> set[str]:
        return set(self.s.scalars(select(Cafe.slot).where(Cafe.series_id == series_id)))

    def of_series(self, series_id: int) -> list[Cafe]:
        return list(self.s.scalars(select(Cafe).where(Cafe.series_id == series_id).order_by(Cafe.slot)))

    def future_count(self, series_id: int, now: datetime) -> int:
        return self.s.scalar(select(func.count()).select_from(Cafe).where(
            Cafe.series_id == series_id, Cafe.starts_at > now)) or 0

    def upcoming(self, now: datetime, *, group_ids: list[int] | None = None,
                 community_ids: list[int] | None = None, limit: int = 20,
                 include_cancelled: bool = True) -> list[Cafe]:
        q = select(Cafe).where(Cafe.starts_at > now)
        if not include_cancelled:
            q = q.where(Cafe.status == "scheduled")
        if group_ids is not None:
            q = q.where(Cafe.group_id.in_(group_ids or [-1]))
        if community_ids is not None:
            q = q.where(Cafe.community_id.in_(community_ids or [-1]))
        return list(self.s.scalars(q.order_by(Cafe.starts_at, Cafe.id).limit(limit)))

    def next_of_community(self, community_id: int, now: datetime) -> Cafe | None:
        return self.s.scalar(select(Cafe).where(Cafe.community_id == community_id, Cafe.starts_at > now,
                                                Cafe.status == "scheduled")
                             .order_by(Cafe.starts_at, Cafe.id).limit(1))

    def within(self, now: datetime, until: datetime) -> list[Cafe]:
        """Scheduled cafés starting after ``now`` and no later than ``until``."""
        return list(self.s.scalars(select(Cafe).where(Cafe.status == "scheduled", Cafe.starts_at > now,
                                                      Cafe.starts_at <= until).order_by(Cafe.starts_at)))

    def for_thread(self, thread_id: int, now: datetime) -> list[Cafe]:
        """Coming cafés a reflection thread is linked to."""
        return list(self.s.scalars(select(Cafe).where(Cafe.topic_thread_id == thread_id, Cafe.starts_at > now)
                                   .order_by(Cafe.starts_at, Cafe.id)))

    def unannounced(self, now: datetime) -> list[Cafe]:
        return list(self.s.scalars(select(Cafe).where(Cafe.status == "scheduled", Cafe.starts_at > now,
                                                      Cafe.announced_at.is_(None)).order_by(Cafe.starts_at)))

    # -- people ------------------------------------------------------------------
    def community_members(self, group_id: int, community_id: int, whole_group: bool) -> list[tuple[Member, Person]]:
        """Active members of a community; with ``whole_group`` (a group with one community)
        also those who never chose one."""
        cond = Member.community_id == community_id
        if whole_group:
            cond = or_(cond, Member.community_id.is_(None))
        rows = self.s.execute(select(Member, Person).join(Person, Person.id == Member.person_id).where(
            Member.group_id == group_id, Member.status == "active", Member.pseudonym.is_not(None),
            Person.consent_at.is_not(None), cond).order_by(Member.id))
        return [(m, p) for m, p in rows]

    def reminders_on(self, person_id: int) -> bool:
        prefs = self.s.get(CafePrefs, person_id)
        return prefs is None or prefs.reminders

    def set_reminders(self, person_id: int, on: bool) -> None:
        prefs = self.s.get(CafePrefs, person_id)
        if prefs is None:
            self.s.add(CafePrefs(person_id=person_id, reminders=on))
        else:
            prefs.reminders = on

    def reminders_off_people(self, person_ids: list[int]) -> set[int]:
        return set(self.s.scalars(select(CafePrefs.person_id).where(
            CafePrefs.person_id.in_(person_ids or [-1]), CafePrefs.reminders.is_(False))))

    # -- settings ----------------------------------------------------------------
    def offsets(self, group_id: int) -> tuple[str | None, datetime | None]:
        row = self.s.get(CafeSettings, group_id)
        return (row.offsets, row.changed_at) if row else (None, None)

    def set_offsets(self, group_id: int, offsets: str) -> None:
        row = self.s.get(CafeSettings, group_id)
        if row is None:
            self.s.add(CafeSettings(group_id=group_id, offsets=offsets, changed_at=self.clock.now()))
        else:
            row.offsets, row.changed_at = offsets, self.clock.now()

    # -- RSVPs ---------------------------------------------------------------------
    def rsvp(self, cafe_id: int, member_id: int) -> CafeRsvp | None:
        return self.s.scalar(select(CafeRsvp).where(CafeRsvp.cafe_id == cafe_id, CafeRsvp.member_id == member_id))

    def set_rsvp(self, cafe_id: int, member_id: int, answer: str) -> None:
        row = self.rsvp(cafe_id, member_id)
        if row is None:
            self.s.add(CafeRsvp(cafe_id=cafe_id, member_id=member_id, answer=answer,
                                answered_at=self.clock.now()))
        else:
            row.answer, row.answered_at = answer, self.clock.now()
        self.s.flush()

    def counts(self, cafe_id: int) -> dict[str, int]:
        rows = self.s.execute(select(CafeRsvp.answer, func.count()).where(CafeRsvp.cafe_id == cafe_id)
                              .group_by(CafeRsvp.answer))
        return {answer: n for answer, n in rows}

    def answers(self, cafe_id: int) -> dict[int, str]:
        """member id -> answer (for the consultant's list and the change notices)."""
        return dict(self.s.execute(select(CafeRsvp.member_id, CafeRsvp.answer).where(CafeRsvp.cafe_id == cafe_id)).all())

    # -- reminder bookkeeping ----------------------------------------------------
    def sent_keys(self, cafe_id: int) -> set[tuple[int, int]]:
        return set(self.s.execute(select(CafeReminderSent.offset_minutes, CafeReminderSent.person_id)
                                  .where(CafeReminderSent.cafe_id == cafe_id)).all())

    def mark_sent(self, cafe_id: int, offset_minutes: int, person_id: int, outcome: str) -> None:
        self.s.add(CafeReminderSent(cafe_id=cafe_id, offset_minutes=offset_minutes, person_id=person_id,
                                    outcome=outcome, at=self.clock.now()))

    # -- rides and buddies -------------------------------------------------------
    def rides(self, cafe_id: int) -> list[CafeRide]:
        return list(self.s.scalars(select(CafeRide).where(CafeRide.cafe_id == cafe_id).order_by(CafeRide.id)))

    def ride(self, cafe_id: int, member_id: int) -> CafeRide | None:
        return self.s.scalar(select(CafeRide).where(CafeRide.cafe_id == cafe_id, CafeRide.member_id == member_id))

    def set_ride(self, cafe_id: int, member_id: int, kind: str, seats: int) -> CafeRide:
        row = self.ride(cafe_id, member_id)
        if row is None:
            row = CafeRide(cafe_id=cafe_id, member_id=member_id, kind=kind, seats=seats, matched=False,
                           at=self.clock.now())
            self.s.add(row)
        else:
            row.kind, row.seats, row.at = kind, seats, self.clock.now()
        self.s.flush()
        return row

    def buddies(self, cafe_id: int) -> list[CafeBuddy]:
        return list(self.s.scalars(select(CafeBuddy).where(CafeBuddy.cafe_id == cafe_id).order_by(CafeBuddy.id)))

    def buddy(self, cafe_id: int, member_id: int) -> CafeBuddy | None:
        return self.s.scalar(select(CafeBuddy).where(CafeBuddy.cafe_id == cafe_id, CafeBuddy.member_id == member_id))

    def add_buddy(self, cafe_id: int, member_id: int) -> CafeBuddy:
        row = CafeBuddy(cafe_id=cafe_id, member_id=member_id, at=self.clock.now())
        self.s.add(row)
        self.s.flush()
        return row

    def waiting_buddies(self, cafe_id: int) -> list[CafeBuddy]:
        """Wishes not paired yet, first come first."""
        return list(self.s.scalars(select(CafeBuddy).where(CafeBuddy.cafe_id == cafe_id,
                                                           CafeBuddy.buddy_member_id.is_(None))
                                   .order_by(CafeBuddy.at, CafeBuddy.id)))

    def ride_by_id(self, ride_id: int | None) -> CafeRide | None:
        return self.s.get(CafeRide, ride_id) if ride_id is not None else None

    def passengers(self, offer_id: int) -> list[CafeRide]:
        return list(self.s.scalars(select(CafeRide).where(CafeRide.offer_id == offer_id).order_by(CafeRide.id)))

    def pair_threads(self, a: int, b: int) -> set[int]:
        """Threads of the live café pairings (buddy or ride) between two members."""
        found = set(self.s.scalars(select(CafeBuddy.thread_id).where(
            CafeBuddy.member_id.in_((a, b)), CafeBuddy.buddy_member_id.in_((a, b)),
            CafeBuddy.thread_id.is_not(None))))
        offers = select(CafeRide.id).where(CafeRide.member_id.in_((a, b)), CafeRide.kind == "offer")
        found |= set(self.s.scalars(select(CafeRide.thread_id).where(
            CafeRide.member_id.in_((a, b)), CafeRide.offer_id.in_(offers), CafeRide.thread_id.is_not(None))))
        return found

    def drop(self, row: object) -> None:
        self.s.delete(row)
        self.s.flush()
