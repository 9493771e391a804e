"""The crisis and disclosure rules are general: each case is one rule composed from parts,
with what undoes it (moderation/crisis_rules.py, moderation/text.py)."""
from __future__ import annotations

import pytest

from moderation.crisis import assess
from moderation.disclosure_detect import detect


@pytest.mark.parametrize("text", [
    "I'm done. Goodbye.",                                    # finality + farewell, each at a clause end
    "Jeg er ferdig. Ha det.",
    "I won't be here next week",                             # absence + a near future
    "jeg kommer ikke til å være her neste uke",
    "going to the bridge after work",                        # a high place + a time
    "I'm writing this from the roof of my building",         # there now
    "I have the rope ready",                                 # a method + readiness
    "the blade is right next to me",                         # a method at hand
    "nå sitter jeg her med alle tablettene foran meg",
    "What's the point of living anymore",                    # pointlessness + going on
    "I want it all to be over",                              # everything ending
    "Nobody will notice when I'm gone",
    "everyone would be happier if I just disappeared",
    "I took 20 paracetamol an hour ago",                     # a count of pills
    "I never thought I'd say this but I want to die",
    "not going to lie, I want to die",                       # a new subject ends the negation
    "eg vil ikkje leva meir",                                # nynorsk / dialect
    "æ orkar ikkje meir",
    "im gonna kms",                                          # missing apostrophes, slang
    "ill be gone by tomorrow",
    "k.m.s tonight fr",                                      # dotted letters
    "har lyst til å d0",                                     # a zero for ø
    "Nothing matters anymore, I'm ending it tonight",        # -ing forms
    "i kveld tar jeg livet mitt",                            # the verb before the subject (V2)
    "I'm thinking of taking all my sleeping pills",          # a wish to take all of them
    "its too much. i cant anymore. im sorry",                # finality + an apology at clause ends
    "i'm sitting in my car in the garage with the engine running",
    "ive taken the whole packet, getting sleepy",              # an overdose already taken, perfect tense
    "tatt hele eska nå",
    "tok ei hel pakke med sobril i stad",
    "checked that the rope will hold my weight",               # testing a ligature
    "har festa tauet i taket",
    "kuttet meg dypt på låret nå",
    "har tømt medisinskapet ut på bordet",
])
def test_crisis_composed_from_general_parts(text: str) -> None:
    assert assess(text) == 2


@pytest.mark.parametrize("text", [
    "I'm done with my exams, goodbye stress!",               # finality with an object, farewell to a thing
    "Thanks all, bye!",                                      # farewells count once together
    "I'm not going to be here next week, I'm on holiday",    # away for a reason
    "I won't be here tomorrow, I have a doctor's appointment",
    "we're going to the bridge to watch the fireworks tonight",
    "going to the bridge club after work",
    "I keep my meds next to me on the nightstand so I don't forget",
    "jeg har kjøpt tau til båten",
    "I want it all to be over with so I can relax",
    "I don't want to live in this city anymore",
    "I'd rather die than sing karaoke",
    "I want this week to be over",
    "ingen kommer til å merke om jeg drar tidlig",
    "venninnen min snakket om selvmord, hvordan hjelper jeg henne?",   # "min" says whose, not who
    "If you ever feel suicidal please call 116 123",         # advice to someone else
    "My doctor changed my pills and I feel a bit odd tonight",          # "odd" is not "OD"
    "Jeg vil at denne uka skal ta slutt, så sliten",
    "Jeg har skrevet brev til julenissen med datteren min i kveld",
    "the shelf holds my weight fine, I'm not that heavy lol",
    "I'd never have taken the whole box, I only took the two my doctor said",
    "vi måtte kutte dypt i budsjettet i år",
])
def test_the_same_parts_in_everyday_use_are_not_a_crisis(text: str) -> None:
    assert assess(text) < 2


def test_a_wish_that_someone_else_were_dead_is_no_crisis_answer_but_a_note() -> None:
    assert assess("I wish he was dead") == 1
    assert assess("I wish my boss was dead") == 1
    assert assess("I wish I was dead") == 2


@pytest.mark.parametrize("text, part", [
    ("I live at 14 Baker Street", "14 Baker Street"),        # a famous street stated as one's address
    ("dm me on discord, it's rowanthefox#4821", "rowanthefox#4821"),
    ("my neighbour Kari Nordmann keeps banging on my wall", "Kari Nordmann"),   # someone the writer knows
    ("Hei! Jeg heter Line Bakke og er ny her.", "Jeg heter Line Bakke"),
    ("I work nights at St. Olavs hospital", "I work nights at St. Olavs hospital"),
    ("jobber i kassa på Coop Extra Nordbyen", "jobber i kassa på Coop Extra Nordbyen"),
])
def test_disclosure_rules_that_generalise(text: str, part: str) -> None:
    assert part in [f.text for f in detect(text)]


@pytest.mark.parametrize("text", ["a museum at 221b Baker Street", "Ola Nordmann er et eksempel", "ticket#4821 is closed",
                                  "I work nights at the hospital"])
def test_disclosure_exemptions_still_hold(text: str) -> None:
    assert not detect(text)


@pytest.mark.parametrize("text", [
    "snappen min e ola.n_03",                        # the platform as people say it, with a Norwegian ending
    "follow me on ig, it's mørk.himmel88",
    "dc: ulvehjerte_",
    "jonas.b99 på tiktok hvis noen vil se",          # the name first, the platform after it
    "adda meg da: ola.n_03",                         # asked to be added, no platform named
    "insta?? ola.n_03",
    "finn meg på snap, heter olanor",                # a plain word the text calls the name
])
def test_a_user_name_near_a_platform_word_is_an_account(text: str) -> None:
    assert [f.kind for f in detect(text)] == ["handle"]


@pytest.mark.parametrize("text", [
    "insta is making me feel ugly again",            # an ordinary word after the platform
    "deleted snap after 2.5 years, best decision",
    "used discord to learn python3.11 this week",
    "Ring Kirkens SOS på 22 40 00 40 om natta",      # a listed public number
    "Kirkens SOS i Tromsø: 77 61 40 00",             # a number written after a service's name
    "the helpline 116 123 is free",
    "77 61 40 00 er nummeret til Kirkens SOS i Tromsø",                # the service named after its number
])
def test_platforms_mentioned_and_public_numbers_are_no_detail(text: str) -> None:
    assert not detect(text)


def test_a_persons_number_after_a_service_name_is_still_theirs() -> None:
    assert [f.kind for f in detect("ring Kirkens SOS eller meg på 912 34 567")] == ["phone"]
    assert [f.kind for f in detect("912 34 567 er mitt nummer, ikke Kirkens SOS")] == ["phone"]


@pytest.mark.parametrize("text", [
    "Fiskebutikken ved kaia i Langnes er der jeg står hver dag",     # a shop placed in a small town
    "my sister runs the hair salon in the centre of Breivik",
    "vi bor i Lindeveien i Storvik",                                  # a street and its town, no number
    "I work at the bakery in Sørvik",                                 # a shop one works at, in a town
    "mamma er den eneste frisøren i Langnes",                         # the only one in the town
    "Sørvik bakeri har de beste bollene",                             # a shop named by its place
    "Rema ved kaia i Langnes er der jeg handler",                     # a chain's branch placed by a town
    "datteren min går på skolen i Langnes",                           # one school in a small town
    "I work at the care home in Sørvik",
    "Pizzeria Roma i Langnes har god pizza",                          # a named shop and its town
    "bor i Lindeveien, Storvik",                                      # written as an address, no number
])
def test_a_local_shop_or_street_placed_by_its_town_is_a_detail(text: str) -> None:
    assert [f.kind for f in detect(text)] == ["place"]


@pytest.mark.parametrize("text", [
    "kjøpte brød på bakeriet på vei hjem",
    "Det er marked på torget i Langnes på lørdag",                    # the square, no shop
    "we had lunch at a café by the harbour in Bergen",                # a big city
    "Bogstadveien i Oslo var full av folk",
    "the shops in the centre of town close early",                    # no town named
    "Oslo bakeri var dyrt, men godt",                                 # a shop named by a big city
    "Jeg elsker Godt Brød bakeri",                                    # a brand, not a place name
    "snap? nei takk, sluttet med det for lenge siden",
    "we went to the library in Langnes yesterday",                    # a visit, not belonging
    "I go to the hospital in Sørvik every week",
    "Storgata, Kirkegata og Torget er stengt i dag",
    "A Nightmare on Elm Street in Springwood is my favourite film",
    "I ran to the shop in Sørvik before it closed",                   # running to a shop is no tie
    "working out at the gym in Sørvik helps",
])
def test_shops_squares_and_big_city_streets_alone_are_no_detail(text: str) -> None:
    assert not detect(text)


@pytest.mark.parametrize("text, kind", [
    ("I do the early shift at the Rema 1000 in Hamnvik", "workplace"),     # a job named by its shift
    ("my boss at Fjordkraft in Florø is awful", "workplace"),
    ("I got a job at Sparebanken Vest in Odda!", "workplace"),
    ("I'm a barista at Kaffebrenneriet on the square", "workplace"),        # a role, then where
    ("sjefen på Joker Vikna er grei nok", "workplace"),
    ("kollegaene mine på Posten er så snille", "workplace"),
    ("jeg er kasserer på Kiwi Solbakken", "workplace"),
    ("jeg eier frisørsalongen Klipp og Krøll på Tingvoll", "workplace"),   # the business one owns
    ("I own a little bakery called Smørøyet", "workplace"),
    ("I'm on discord a lot, I'm on there as midnightknitter", "handle"),     # the platform named earlier
    ("journalnummeret mitt på DPS er 2025-004512", "case_number"),          # words before the number
    ("my case number with NAV is 24/18833", "case_number"),
    ("my journal number at the clinic is J-88213", "case_number"),          # a letter before the number
    ("journalnummeret mitt på DPS-et er 88213-B", "case_number"),          # and after it
    ("my patient ID at the hospital is 556-2019-884", "case_number"),
    ("honestly I'm Sara Lindqvist btw", "name"),                            # "I'm" and a full name
    ("egentlig heter jeg Sara Lindqvist", "name"),
    ("we had a staff meeting at Coop Extra Solbakken today", "workplace"),
    ("vi hadde personalmøte på Kiwi Solbakken i dag", "workplace"),
    ("jobba på Coop Prix Solbakken i seks år før jeg ble sjuk", "workplace"),   # past tense, dialect
    ("I worked at Sparebanken Vest in Odda until last year", "workplace"),
    ("I'm the receptionist at Tannlegene i Hamnvik", "workplace"),            # "the" role
    ("i study nursing at VID, second year", "workplace"),                     # a subject, then where
    ("studerer sykepleie på NTNU Gjøvik, andre året", "workplace"),            # a university's campus
    ("jeg går på Universitetet i Tromsø", "workplace"),
    ("I'm on the psych ward at St. Olavs hospital, nights", "workplace"),
    ("jobber på avdeling 3 på Ahus", "workplace"),                            # the name after a ward
    ("psykologen min på Modum Bad sier jeg kan ta med en venn", "workplace"),
    ("kjører skolebuss for Hamnvik Trafikk, begynner kl 6", "workplace"),
    ("mamma heter Gunn Kvernmo og er med i lokallaget", "name"),
    ("send it to Postboks 221, 8601 Mo i Rana", "postcode"),                 # a two-letter place
    ("my po box is 4431 if you want to write", "address"),
])
def test_work_named_by_its_relation_and_numbers_named_in_words_are_details(text: str, kind: str) -> None:
    assert kind in [f.kind for f in detect(text)]


@pytest.mark.parametrize("text", [
    "my boss at Christmas dinner was actually nice",
    "I had a shift at the hospital last night, so tired",
    "jeg er innlagt på DPS nå, men det går bra",
    "jeg driver og rydder hele dagen",
    "jeg har vakt i morgen tidlig",
    "I'm a regular at the café by now haha",
    "I run every morning before breakfast",
    "discord is my happy place, I'm on there as much as I can",
    "the case number was in the letter from 2019 and I lost it",
    "patient number 20 in the queue is me",
    "I'm Anna and I'm new here",
    "the staff meeting at noon was long",
    "I used to work at a shop, now I'm on benefits",
    "I'm the oldest at the café by far haha",
    "studerer sykepleie på deltid, andre året",
    "studying at NTNU is hard, so many people",
    "my therapist at DPS said it is fine to bring a friend",
    "jeg jobba i butikk før, nå er jeg ufør",
    "mamma heter ikke noe spesielt, hun er bare mamma",
])
def test_the_same_words_without_a_named_place_or_number_are_no_detail(text: str) -> None:
    assert not detect(text)
