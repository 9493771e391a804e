"""Local places that point at one person in a small community, without a house number:
a shop placed by a town ("Bakeriet på torget i Nordvik", "the bakery on the square in
Nordvik"), a street and its town ("the pharmacy on Strandgata in Fjellvik", "vi bor i
Skolegata i Tinden"), and a shop someone works at or owns in a town ("jobber på bakeriet i
Nordvik", "my mum runs the kiosk in Nesvik").

Part of the disclosure detector (moderation/disclosure_detect.py). The town is any
capitalised place name after "i"/"in"/"på"/"of"; big cities, countries and regions
(moderation/data/places_large.txt) are not small enough to identify anyone. Each part alone
is ordinary: "went to the bakery", "på torget i dag", "I moved to Fjellvik", a famous street.
"""
from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from typing import Iterable

from moderation.detect_places import FAMOUS_STREETS

Hit = tuple[str, str, int]

_BUSINESS_NB = (r"[\wæøå]*butikk(?:en)?|[\wæøå]*-butikken|bakeri(?:et)?|konditori(?:et)?|apotek(?:et)?|"
                r"kiosk(?:en)?|kafé(?:en)?|kafe(?:en)?|kaffebar(?:en)?|frisør(?:en)?|frisørsalong(?:en)?|"
                r"salong(?:en)?|pizzeria(?:en)?|restaurant(?:en)?|gatekjøkken(?:et)?|grill(?:en)?|"
                r"bensinstasjon(?:en)?|bokhandel(?:en)?|banken|postkontor(?:et)?|hotell(?:et)?|puben|"
                r"baren|verksted(?:et)?|bilverksted(?:et)?|gullsmed(?:en)?|optiker(?:en)?|tannlege(?:n)?|"
                r"tannlegekontor(?:et)?|treningssenter(?:et)?|sjappa|sjappe|blomsterhandel(?:en)?|"
                r"slakter(?:en)?|fiskehandel(?:en)?|bruktbutikk(?:en)?|matbutikk(?:en)?|nærbutikk(?:en)?|"
                r"dagligvare(?:butikken)?|vinmonopol(?:et)?|polet|hybel(?:en)?")
_BUSINESS_EN = (r"bakery|bakers?'?s?|pharmacy|chemist'?s?|kiosk|caf[eé]|coffee shop|coffee place|shop|store|"
                r"supermarket|corner shop|grocer'?s|grocery store|hairdresser'?s?|hair salon|salon|barber'?s?|"
                r"barbershop|pizzeria|pizza place|restaurant|takeaway|chip shop|pub|bar|petrol station|"
                r"gas station|garage|bookshop|bookstore|bank|post office|hotel|florist'?s?|butcher'?s?|"
                r"dentist'?s?|gym|newsagent'?s?|off-licence|launderette|cinema|workshop")
# Chains: the branch in a small town is one place ("Rema ved kaia i Nordvik").
_CHAINS = (r"(?-i:Kiwi|Rema(?: 1000)?|Coop(?: Extra| Prix| Mega| Marked| Obs)?|Co-op|Meny|Joker|Spar|Bunnpris|Extra|"
           r"Narvesen|7-Eleven|Deli de Luca|Vitusapotek|Apotek 1|Boots|Vinmonopolet|Circle K|Esso|Shell|Uno-X|"
           r"Posten|Europris|Normal|Tesco|Sainsbury's|Aldi|Lidl|Greggs|Costa|Starbucks|McDonald's|Burger King|"
           r"Peppes|Dolly Dimple's)")
_BUSINESS = rf"(?:{_BUSINESS_NB}|{_BUSINESS_EN}|{_CHAINS})"
# Where in a small town a shop is: the square, the quay, the centre, a corner, the station.
_SPOT_NB = (r"(?:på|ved|nede ved|oppe ved|borte ved)\s+(?:torget|kaia|kaien|brygga|bryggen|havna|havnen|"
            r"hjørnet|stasjonen|jernbanestasjonen|kirka|kirken|rådhuset|senteret|skolen|ferjekaia|fergeleiet|"
            r"ferjeleiet|bussstasjonen|rundkjøringa|rundkjøringen|sjøen|elva)|i\s+sentrum|midt\s+i\s+sentrum|"
            r"i\s+senteret")
_SPOT_EN = (r"(?:on|in|at|by|near|next to)\s+the\s+(?:(?:market|town|main|village)\s+)?(?:square|quay|quayside|"
            r"harbou?r|pier|seafront|waterfront|corner|station|church|town hall|high street|main street|"
            r"mall|shopping centre|shopping center|roundabout|ferry terminal)|in\s+the\s+(?:town\s+)?cent(?:re|er)|"
            r"in\s+(?:the\s+)?(?:town|city)\s+cent(?:re|er)|in\s+the\s+middle")
_SPOT = rf"(?:{_SPOT_NB}|{_SPOT_EN})"
_CAP = r"[A-ZÆØÅ][a-zæøåéA-ZÆØÅ'’]+"
_TOWN = rf"(?-i:({_CAP}(?:[ -][A-ZÆØÅ][a-zæøå]+)?))"      # capitalised even where the rest is not
_TO_TOWN = rf"\s*,?\s*(?:i|in|på|of|av)\s+{_TOWN}"
# A street without a number: one capitalised word ending in a street word, or a name and one.
_STREET_END = r"(?:gata|gaten|gate|veien|vei|vegen|veg|allé|alléen|plassen|stien|svingen|brygga|brygge|stredet|smauet)"
_STREET = (rf"(?:[A-ZÆØÅ][a-zæøåé]{{2,}}{_STREET_END}|[A-ZÆØÅ][a-zæøåé]+s?\s(?:gate|gata|vei|veg|allé|plass)|"
           rf"(?:[A-Z][a-z]+\s){{1,2}}(?:Street|Road|Lane|Avenue|Close|Drive|Crescent|Terrace|Square))")

_PLACED_SHOP = re.compile(rf"(?<![\w-]){_BUSINESS}(?:\s+(?:som ligger|that's|that is|right|rett|just))?\s+"
                          rf"{_SPOT}{_TO_TOWN}", re.I)
# "Strandgata i Fjellvik", and as an address is written, "Strandgata, Fjellvik".
_STREET_TOWN = re.compile(rf"(?<![\w-])({_STREET})(?!\s*\d)(?:{_TO_TOWN}|\s*,\s*{_TOWN}(?!\w))")
# Working somewhere may take a few words ("jobber deltid i kassa på …"); owning or running it is
# said right before it ("driver kiosken", "runs the bakery"; "ran to the shop" is no tie).
_TIE = (r"(?:(?:jobber|jobbet|arbeider|arbeidet|ansatt|sjef|står i kassa|work|works|worked|working|a cashier|"
        r"a barista|a baker|employed)(?!\s+out\b)(?:\s+[\wæøå'’]+){0,3}?|"
        r"(?:driver|drev|eier|eide|runs|run|own|owns|owned|manage|manages|manager of))")
# Schools, the surgery, the care home: in a small town there is one of each.
_INSTITUTION = (r"(?:skolen|barneskolen|ungdomsskolen|videregående|vgs|barnehagen|sykehjemmet|omsorgssenteret|"
                r"legekontoret|legesenteret|helsestasjonen|biblioteket|sykehuset|tannlegen|"
                r"school|primary school|secondary school|high school|nursery|care home|surgery|library|"
                r"hospital|health centre|health center|kindergarten)")
_SCHOOL = (r"(?:skolen|barneskolen|ungdomsskolen|videregående|vgs|barnehagen|school|primary school|secondary school|"
           r"high school|nursery|kindergarten)")
# Going to a school is belonging to it; going to the library or the hospital is a visit.
_ATTEND = (r"(?:går på|gikk på|begynner på|begynte på|elev på|elev ved|studerer på|lærer på|lærer ved|"
           r"go to|goes to|attend|attends|attended|teach at|teaches at|a teacher at|a pupil at|a student at)")
_TIED_SHOP = re.compile(rf"\b(?:{_TIE}\s+(?:på|hos|ved|i|at|in|the|a)?\s*(?:the\s+)?"
                        rf"({_BUSINESS}|{_INSTITUTION})|{_ATTEND}\s+(?:the\s+)?({_SCHOOL})){_TO_TOWN}", re.I)
# "the only hairdresser in Vikøy", "den eneste kiosken i Straumsnes": one place, one person.
_ONLY_SHOP = re.compile(rf"\b(?:the only|only one|den eneste|det eneste|eneste)\s+(?:\w+\s+)?({_BUSINESS}){_TO_TOWN}", re.I)
# A shop named by its place, "Nordvik bakeri", "Straumsnes Kafé", "Fjellvik Pharmacy": the name
# must look like a Norwegian place name (its ending), so "Starbucks kafé" or "Godt Brød bakeri"
# (a chain, a brand) is not a local place.
_PLACE_END = (r"(?:vik|vika|nes|næs|øy|øya|øyna|dal|dalen|fjord|fjorden|by|byen|stad|heim|havn|hamn|sund|strand|"
              r"berg|land|våg|våg|eid|mo|os|set|rud|åsen|haug|haugen|bø|fjell|li|lia|holm|sjøen|elv|elva|bukt|"
              r"bukta|botn|vær|vær|skog|sand|sanden|ås|torp|rød|nesset)")
_SHOP_WORD = (r"(?:bakeri|bakeriet|konditori|kafé|kafe|kaffebar|frisør|frisørsalong|pizzeria|kiosk|bokhandel|"
              r"bilverksted|blomster|gatekjøkken|apotek|Bakery|Pharmacy|Café|Cafe|Pizzeria|Barbers|Garage|Florist)")
_NAMED_SHOP = re.compile(rf"(?<![\w-])((?-i:[A-ZÆØÅ][a-zæøå]+{_PLACE_END}))\s+(?i:{_SHOP_WORD})(?![\wæøå])")
# "Pizzeria Napoli i Nordvik", "Hansen bakeri på Havøy": a named shop and its town.
_NAMED_IN_TOWN = re.compile(rf"(?<![\w-])(?:(?i:{_BUSINESS})\s+{_CAP}(?:\s{_CAP})?|{_CAP}\s+(?i:{_SHOP_WORD}))"
                            rf"{_TO_TOWN}")
_NOT_TOWN = frozenset("""januar februar mars april mai juni juli august september oktober november desember
january february march may june july october december mandag tirsdag onsdag torsdag fredag lørdag søndag
monday tuesday wednesday thursday friday saturday sunday jul julen påske påsken christmas easter the a an
jeg du han hun vi de det den en et ei i you he she we they it my min mitt this that""".split())


@lru_cache(maxsize=1)
def _large() -> frozenset[str]:
    text = resources.files("moderation").joinpath("data/places_large.txt").read_text(encoding="utf-8")
    return frozenset(w.casefold() for line in text.splitlines() if not line.startswith("#") for w in line.split())


def small_town(name: str, local: Iterable[str] = ()) -> bool:
    """A capitalised place name that is not a big city, a country, a region or a month."""
    first = name.split()[0].split("-")[0].casefold()
    if any(name.casefold().startswith(n.casefold()) for n in local):
        return True
    return name[:1].isupper() and first not in _NOT_TOWN and first not in _large() and \
        name.casefold() not in _large() and len(first) >= 3


def local_places(text: str, local: Iterable[str] = ()) -> list[Hit]:
    local = tuple(local)
    found: list[Hit] = []
    for pattern in (_PLACED_SHOP, _STREET_TOWN, _TIED_SHOP, _ONLY_SHOP, _NAMED_SHOP, _NAMED_IN_TOWN):
        for m in pattern.finditer(text):
            town = m.group(m.lastindex or 0)
            if pattern is _STREET_TOWN and any(s in m.group().casefold() for s in FAMOUS_STREETS):
                continue                     # "A Nightmare on Elm Street in Springwood"
            if small_town(town, local) and not re.search(rf"{_STREET_END}$", town):
                start = m.start(1) if m.group(1) is not None else m.start(2)
                start = start if pattern is _TIED_SHOP else m.start()
                found.append(("place", text[start:m.end()], start))
    return found
