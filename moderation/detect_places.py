"""Places that identify a person: street addresses, postcodes, named schools and workplaces.

Part of the disclosure detector (moderation/disclosure_detect.py); returns plain
``(kind, part, start)`` tuples. A street needs a house number, a postcode a place name, a
school or workplace a proper name: "the school", "a shop", "jobber på et lager" and
"room 12" are ordinary words.
"""
from __future__ import annotations

import re
from typing import Iterable

Hit = tuple[str, str, int]

# --- street addresses -----------------------------------------------------------------------------
_NB_STREET = (r"(?:gata|gaten|gate|veien|vei|vegen|veg|allé|alléen|plass|plassen|stien|bakken|svingen|torget|"
              r"torg|brygge|brygga|kaia|lia|løkka|haugen|tunet|ringen|stredet|smauet|terrasse|kroken|åsen|"
              r"jordet|enga|parken|grenda|tunet)")
_HOUSE = r"\d{1,4}(?:\s?[A-Ha-h](?![\w]))?"
_NOT_HOUSE_AFTER = re.compile(r"^\s*(?:kr|nok|%|min|minutter|timer|år|dager|ganger|km|meter|m\b|personer|stk|"
                              r"times|minutes|hours|days|years|people|[.,]\d)", re.I)
# One word ending in a street word ("Storgata 5", "storgata 5"), or a name and the street word
# ("Karl Johans gate 1", "Bygdøy allé 5"). The word before the street word needs two letters,
# so "vei 3" and "plass 2" alone (a race's "plass 2") are no address.
_NB_ADDRESS = re.compile(rf"(?<![\w-])(?:[A-ZÆØÅa-zæøå][a-zæøåé.-]+{_NB_STREET}|"
                         rf"[A-ZÆØÅ][a-zæøåé]+s?\s(?:gate|gata|vei|veg|allé|plass|terrasse|brygge|torg))"
                         rf"\s+({_HOUSE})(?![\d:,.]\d)")
_EN_TYPES = (r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Close|Way|Crescent|Cres|Place|Pl|Court|Ct|"
             r"Terrace|Gardens|Grove|Square|Sq|Row|Mews|Park|Hill|Boulevard|Blvd|Walk|Rise|View)")
_EN_ADDRESS = re.compile(rf"(?<![\w.,])\d{{1,4}}[A-Za-z]?,?\s+(?:[A-Z][a-z'’]+\s){{1,3}}{_EN_TYPES}\b\.?"
                         rf"|\b(?:(?:live|lives|living|moved|house is|flat is|address is)\s+(?:at|on|to)|address is)\s+"
                         rf"\d{{1,4}}[A-Za-z]?\s+(?:[A-Za-z'’]+\s){{1,3}}(?i:{_EN_TYPES})\b")
FAMOUS_STREETS = ("downing street", "baker street", "abbey road", "sesame street", "elm street", "wall street",
                   "penny lane", "privet drive")
_POSTCODE = re.compile(r"(?<![\w.,:/-])(?:N-|NO-)?(\d{4})\s+([A-ZÆØÅ][a-zæøå]+(?:[ -](?:i[ -])?[A-ZÆØÅ][a-zæøå]+)?)\b")
_PO_BOX = re.compile(r"\b(?:postboks|pb\.|p\.\s?o\.\s?box|po box|post office box)\s*(?:is\s+|er\s+|nr\.?\s*|number\s+)?\d{1,5}\b", re.I)
_UK_POSTCODE = re.compile(r"\b(?:[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}|[A-Z]{1,2}\d{1,2}[A-Z]?\d[A-Z]{2})\b")
_NOT_PLACE = frozenset("""kr kroner nok euro dollar dollars people personer steps skritt januar februar mars april
mai juni juli august september oktober november desember january february march may june july october december
mandag tirsdag onsdag torsdag fredag lørdag søndag monday tuesday wednesday thursday friday saturday sunday
the and jeg det den men og som var har vi da etter after before før calories kalorier words ord sider pages
ble gikk in on at for was had it i we they he she you my min mitt is er til to of av med with from fra
followers følgere likes views visninger members medlemmer timer hours minutter minutes years år dager days
students elever ansatte employees patients pasienter meter metres meters km kilometer""".split())


# Compounds that end like a street but are places of another kind ("holdeplass 12" is a bus
# stop, "riksvei 7" a road number, "førsteplass" a race).
_NOT_STREET = ("holdeplass", "parkeringsplass", "arbeidsplass", "sitteplass", "lekeplass", "campingplass",
               "studieplass", "barnehageplass", "sykehjemsplass", "ståplass", "liggeplass", "venteplass",
               "førsteplass", "andreplass", "tredjeplass", "fjerdeplass", "femteplass", "omvei", "snarvei",
               "motorvei", "motorveien", "gangvei", "sykkelvei", "hovedvei", "hovedveien", "riksvei", "riksveg",
               "fylkesvei", "fylkesveg", "europavei", "kjørevei", "skolevei", "skoleveien", "plattformgate")


def addresses(text: str) -> list[Hit]:
    found: list[Hit] = []
    for m in _NB_ADDRESS.finditer(text):
        street = m.group().rsplit(None, 1)[0].casefold()
        if street.endswith(_NOT_STREET):
            continue
        if not _NOT_HOUSE_AFTER.match(text[m.end():m.end() + 12]):
            found.append(("address", m.group(), m.start()))
    for m in _EN_ADDRESS.finditer(text):
        # A famous street is a mention ("a museum on 221B Baker Street") unless it is stated as
        # one's own address ("I live at 14 Baker Street"): the match then begins with the verb.
        stated = m.group()[:1].isalpha()
        if stated or not any(s in m.group().casefold() for s in FAMOUS_STREETS):
            skip = re.search(r"\d", m.group()).start()      # quote back "14 Baker Street", not the verb
            found.append(("address", m.group()[skip:], m.start() + skip))
    for m in _POSTCODE.finditer(text):
        number, place = m.group(1), m.group(2)
        if 1900 <= int(number) <= 2099 or place.split()[0].casefold() in _NOT_PLACE:
            continue
        if text[max(0, m.start() - 3):m.start()].casefold().strip() in ("kl", "kl.", "at"):
            continue
        found.append(("postcode", m.group(), m.start()))
    found += [("postcode", m.group(), m.start()) for m in _UK_POSTCODE.finditer(text)]
    found += [("address", m.group(), m.start()) for m in _PO_BOX.finditer(text)]
    return found


# --- named schools, workplaces, health centres -----------------------------------------------------
_INSTITUTION = (r"(?:skole|skolen|ungdomsskole|ungdomsskolen|barneskole|barneskolen|vgs|videregående|"
                r"videregående skole|legesenter|legesenteret|legekontor|legekontoret|bibliotek|biblioteket|"
                r"sykehus|sykehuset|sjukehus|sjukehuset|hospital|hospitalet|barnehage|barnehagen|bhg|sykehjem|sykehjemmet|"
                r"omsorgssenter|helsestasjon|helsestasjonen|dps|kirke|kirken|menighet|høgskole|"
                r"høyskole|folkehøgskole|folkehøyskole|idrettslag|legevakt|legevakten|klinikk|klinikken|"
                r"tannlegesenter|apotek|rådhus|kommune|senter|senteret)")
_GENERIC_PREFIX = frozenset("""barne ungdoms grunn videregående natt folke høy fag sommer kultur musikk kunst
privat kommunal kommunale ny nye gammel gamle gamla stor store liten lille vår min mitt den det denne dette en et
ei hans hennes deres sin sitt lokal lokale på i til fra ved min mi vårt familie fastlege fastlegen tann
spesial universitets sentral sentrale region regionale fylkes kjøpe kjøpesenter handle handlesenter
aktivitets fritids helse lege """.split())
_CAP_WORD = r"[A-ZÆØÅ][\wæøåÆØÅé'’-]*"
# "Fjordvik skole", "Nordby ungdomsskole", "St. Olavs hospital"-style: one or two capitalised
# words and the institution word; "Nordbyskolen": one capitalised compound.
_NB_INSTITUTION = re.compile(rf"(?<![\w])((?:{_CAP_WORD}\s){{0,1}}{_CAP_WORD})\s{_INSTITUTION}\b"
                             rf"|(?<![\w])([A-ZÆØÅ][a-zæøå]{{2,}}?){_INSTITUTION}\b")
_EN_INSTITUTION = re.compile(
    rf"(?<![\w])((?:St\.?\s)?(?:{_CAP_WORD}\s){{1,3}})(?:Primary|Secondary|High|Middle|Grammar|Junior|Infant|"
    r"Community|Academy|College|School|Hospital|Clinic|Library|Surgery|Medical Centre|Medical Center|"
    r"Health Centre|Health Center|University|Nursery|Kindergarten|Church|Care Home|Leisure Centre)\b"
    )
_FUNCTION_WORDS = frozenset("""the a an my our your his her their this that at in on of to from for and or but
i we you they he she it is was our min mitt mi vår vårt den det denne dette en et ei hans hennes deres sin sitt
på i til fra ved og eller men jeg vi du de han hun er var når hvor som etter før local lokale old new gamle
nye big small stor store liten lille every hver all alle any noen some primary secondary high middle school
hospital library nursery community""".split())


def _proper(words: str) -> bool:
    first = words.split()[0].casefold().strip(".")
    return first not in _FUNCTION_WORDS and first not in _GENERIC_PREFIX


def institutions(text: str, local: Iterable[str] = ()) -> list[Hit]:
    found: list[Hit] = []
    for m in _NB_INSTITUTION.finditer(text):
        name = m.group(1) or m.group(2)
        if name and _proper(name):
            found.append(("workplace", m.group(), m.start()))
    for m in _EN_INSTITUTION.finditer(text):
        if _proper(m.group(1).strip()):
            found.append(("workplace", m.group(), m.start()))
    return found


_WORK_CUE = re.compile(
    r"\b(?:i\s+(?:work|am working|volunteer|teach|study)(?:\s+(?:nights|days|evenings|weekends|shifts|"
    r"part-time|part time|full-time|full time|as\s+an?\s+\w+|in\s+the\s+\w+))?\s+(?:at|for)|i\s+attend|"
    r"i'm\s+(?:working|a student|studying|employed)\s+at|i am\s+(?:working|a student|studying|employed)\s+at|"
    r"my\s+(?:workplace|job|employer|office|school|uni|kid'?s school|son'?s school|daughter'?s school)\s+(?:is|at)|"
    r"(?:work|working|employed|a student|studying|a nurse|a teacher|a cashier|an apprentice)\s+at|"
    r"(?:jobber|jobba|jobbet|jobbar|arbeidet|arbeida)(?:\s+(?:natt|dag|kveld|helg|deltid|heltid|som\s+\w+|i\s+(?:kassa|kassen|butikken|resepsjonen|"
    r"kantina|kantinen|baren|lageret)))?\s+(?:på|hos|ved|for)|er\s+ansatt\s+(?:på|i|hos|ved)|"
    r"arbeider\s+(?:på|hos|ved)|jobb(?:en)?\s+(?:min\s+)?(?:på|hos)|går\s+på|studerer\s+(?:på|ved)|"
    r"elev\s+(?:på|ved)|lærling\s+(?:på|hos)|jobben\s+min\s+er|skolen\s+min\s+(?:er|heter)|"
    r"sykepleier\s+(?:på|ved)|lærer\s+(?:på|ved)|"
    # The job named by what goes on there, not by "work at": "my shift at", "my boss at",
    # "I'm a barista at", "sjefen på", "kollegaene mine på", "vakt hos", "eier salongen …".
    r"(?:shifts?|a job|my job|new job|jobs|(?:an?\s+)?interview|internship|placement|apprenticeship|"
    r"work experience|traineeship|(?:staff|team|work)\s+(?:meeting|party|room|canteen|christmas party|do))"
    r"\s+(?:at|with)|"
    r"(?:personalmøte|personalmøtet|personalfest|personalfesten|personalrommet|pauserommet|julebordet|"
    r"jobbfest|jobbfesten)\s+(?:på|hos)|"
    r"(?:my|our)\s+(?:boss|manager|supervisor|team\s?lead|colleagues?|co-?workers?|workmates?|employer)\s+(?:at|from)|"
    r"(?:i'?m|i\s+am|i\s+was|work\s+as|working\s+as)\s+(?:an?|the)\s+[a-z-]{3,}\s+(?:at|for)|"
    r"i\s+(?:worked|used\s+to\s+work|study|studied|studying)\s+(?:[a-z-]{3,}\s+)?(?:at|for)|"
    r"(?:studerer|studerte|studere|studier|utdanner\s+meg)\s+(?:[a-zæøå-]{3,}\s+)?(?:på|ved)|"
    r"(?:my|min)\s+(?:therapist|psychologist|psychiatrist|counsell?or|gp|doctor|nurse|case worker|"
    r"terapeut|psykolog|psykiater|behandler)\s+(?:at|from|på|ved)|"
    r"(?:psykologen|terapeuten|behandleren|psykiateren|fastlegen|legen|kontaktpersonen|sykepleieren)"
    r"\s+(?:min|mi|mitt)\s+(?:på|ved|hos)|"
    r"(?:ward|department|unit|avdeling|avdelinga|avdelingen|post|posten)\s+(?:\w{1,3}\s+)?(?:at|på|ved)|"
    r"(?:kjører|kjørte|kjøyrer)\s+(?:buss|skolebuss|taxi|drosje|trailer|lastebil|varebil)\s+(?:for|hos|på)|"
    r"(?:drive|drove)\s+(?:a\s+)?(?:bus|school bus|taxi|cab|truck|lorry|van)\s+for|"
    r"i\s+(?:own|co-own|run|manage)(?:\s+(?:a|an|the|my)(?:\s+(?:little|small))?\s+[a-z-]+\s+(?:called|named))?|"
    r"(?:sjefen|lederen|kollegaene|kollegene|kollegaen|kollegane|kolleger|kollegaer|vakt|vakta|vakten|vakter|"
    r"ekstravakt|ekstravakter|skift|skiftet|sommerjobb|sommerjobben|deltidsjobb|deltidsjobben|praksis|praksisen|"
    r"praksisplass|intervju|jobbintervju|lærlingplass)(?:\s+(?:min|mi|mitt|mine))?\s+(?:på|hos|ved)|"
    r"jeg\s+er\s+(?!(?:innlagt|alene|fortsatt|ofte|mye|glad|sammen|ute|inne|nede|oppe|hjemme|bare|nå|allerede|"
    r"også|ikke|aldri|litt|veldig|så|her|der|med|en|et|ei)\b)[a-zæøå]{3,}\s+(?:på|hos|ved)|"
    r"(?:eier|driver)(?:\s+(?:en|et|ei))?(?:\s+[a-zæøå]+(?:en|et|a))?)\s+"
    r"((?:the\s+)?[\wæøåÆØÅ'’&.-]+(?:\s+[\wæøåÆØÅ&-]+){0,2})", re.I)
_NOT_WORKPLACE = frozenset("""the a an en et ei my min mitt mi this that home hjemme kontor kontoret butikk
butikken jobb jobben skole skolen sykehuset sykehus barnehage barnehagen bibliotek biblioteket shop store
office school hospital library uni university college nursery work it night nights from remotely part full
deltid heltid natt dag dagtid kveld kvelden helg helgene lager lageret kafé kafe café cafe restaurant en
kiosk kiosken tur turen ski skole do doen toalettet toilet bed bed senga sengs trening treningen gym gymmet
a noe something anything it det dette den kino kinoen fest festen byen town the same samme samme videregående
vgs ungdomsskolen barneskolen barneskole ungdomsskole universitetet høgskolen høyskolen folkehøgskole
nav nettet internett internet nett med with because fordi og and but men so så til to for in i på on
about om around rundt out ut hjem like liker that mer more less mindre christmas easter xmas weekend weekends
jul julen påske påsken sommer sommeren monday tuesday wednesday thursday friday saturday sunday mandag tirsdag
onsdag torsdag fredag lørdag søndag mandager helgen ferien home-office hjemmekontor
ntnu uio uib uit oslomet bi nhh nmbu usn hvl uia uis nord dps bup vop nav""".split())


_BIG_SCHOOLS = frozenset("ntnu uio uib uit oslomet nmbu usn hvl uia uis nord universitetet høgskolen høyskolen".split())
_CAMPUS = re.compile(r"\s+(?:(?:i|på)\s+)?[A-ZÆØÅ][a-zæøå]{2,}")


def workplaces(text: str, local: Iterable[str] = ()) -> list[Hit]:
    """ "I work at Kiwi Fjordvik", "jobber på Rema 1000 Storgata", "går på Fjordvik skole":
    a proper name (or a configured local place) after a work or school phrase."""
    local_cf = [n.casefold() for n in local]
    found: list[Hit] = []
    pos = 0
    while (m := _WORK_CUE.search(text, pos)) is not None:
        # A cue whose object is no name may hide the next one inside it ("jobber på
        # avdeling 3 på Ahus"): look again from its object.
        pos = m.start(1) if m.start(1) > pos else m.end()
        target = m.group(1).strip()
        first = target.split()[0]
        bare = first.casefold().strip(".,")
        if bare == "the" and len(target.split()) > 1:
            first = target.split()[1]
            bare = first.casefold()
        proper = first[:1].isupper() and bare not in _NOT_WORKPLACE and bare not in _FUNCTION_WORDS
        # A big university alone is tens of thousands of people; with its campus ("NTNU
        # Gjøvik") or its full name ("Universitetet i Bergen") it narrows down to a place.
        proper = proper or bool(first[:1].isupper() and bare in _BIG_SCHOOLS and _CAMPUS.match(target[len(first):]))
        near_local = any(n in text[m.start():m.end() + 30].casefold() for n in local_cf)
        if proper or near_local:
            found.append(("workplace", m.group(), m.start()))
            pos = m.end()
    return found
