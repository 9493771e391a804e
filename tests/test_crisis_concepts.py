"""The concept stage of the crisis check (moderation/crisis_concepts.py): posts told in parts
that are ordinary alone get the answer, clear signals undo a concept, and the bot, the
benchmark and stage one are combined in one place."""
from __future__ import annotations

import pytest

from bench.safety import Post, run
from moderation import crisis_evidence as concepts
from moderation.crisis import assess, assess_where, combined_tier
from moderation import crisis_combine as concepts_combine
from moderation.crisis_combine import combine_rules

# One post per rule and language; stage one (the phrase lists) misses every one of them.
RULES = [
    ("method+acquire", "picked up a rope from the hardware store"),
    ("method+acquire", "har skaffet meg et tau"),
    ("method+near", "the noose is tied, tonight"),
    ("method+near", "løkka er knyttet, i natt"),
    ("method+at_hand", "the rope is in my bag"),
    ("blade+at_hand", "barberbladet ligger ved siden av meg"),
    ("method+urge", "keep thinking about the tracks and jumping in front"),
    ("method+urge", "tenker på å hoppe foran et tog"),
    ("selfharm+again", "burned myself again last night"),
    ("selfharm+again", "brant meg igjen i går"),
    ("selfharm+again", "kutta opp armen for et kvarter siden, det slutter ikke å blø"),   # the arm, not "meg"
    ("selfharm+urge", "want to sh so bad"),
    ("death+context", "tonight i finally end it"),
    ("death+context", "i morgen gjør jeg endelig slutt på det"),
    ("farewell+final", "thanks for everything, you won't hear from me again, i won't be needing this account"),
    ("farewell+final", "takk for alt, dere trenger ikke bekymre dere for meg lenger, ingen mer meg"),
    ("lastpost", "think this is my final post"),
    ("lastpost", "dette er siste gang jeg skriver her"),
    ("note+left", "wrote a note for my brother, it's on my desk"),
    ("note+left", "skrev en lapp til broren min, den ligger på pulten"),
    ("disposal+final", "gave my plants to the neighbour, won't need them where i'm going"),
    ("disposal+final", "sletta kontoene mine og betalte regningene"),
    ("hopeless+final", "tired of fighting, this is it"),
    ("hopeless+final", "gir opp, for godt"),
    ("prepare+final", "found a spot where nobody goes"),
    ("prepare+final", "funnet et sted der ingen finner meg"),
    ("pills+stash", "counted my pills, should be enough"),
    ("pills+stash", "har spart opp pillene, det holder"),
    ("place+there", "on the roof now, it is quiet"),
    ("place+there", "klatret opp på taket, snart"),
    ("covert+means", "when nobody is home i will do it"),
    ("covert+means", "når ingen er hjemme gjør jeg det"),
    ("calm+ready", "tomorrow is the day, i have made peace with it"),
    ("calm+ready", "har sluttet fred med det, i morgen er dagen"),
    ("plan+reason", "settled on the place and the date is set. none of it matters"),
    ("plan2", "jeg har bestemt hvor og når"),
    ("found", "chose the shirt I want to be found in"),
    ("found", "har vasket badet så den som finner meg slipper det"),
    ("hoard", "been putting my pills aside for weeks instead of taking them"),
    ("withheld+hidden", "har ikke tatt sovetablettene på lenge, de ligger gjemt i skapet"),
    ("absent+occasion", "I doubt I will make it to easter"),
    ("absent+occasion", "tror ikke jeg er her til sommeren"),
    ("rehome+reason", "my brother is taking my cat before tuesday, he doesn't know why"),
    ("rehome+reason", "kusina mi henter hunden min før torsdag, ingen vet hvorfor"),
    ("legacy+reason", "left my bank details and passwords on the desk for when I'm gone"),
    ("engine+enclosed", "the garage is shut and the engine is running"),
    # medicines by name, an amount, already taken: an overdose now
    ("method+ingested", "necked the rest of my quetiapine with some vodka"),
    ("method+ingested", "har tatt tre brett zopiklon, blir så søvnig"),
    ("method+ingested", "svelget resten av paraceten for en halvtime siden"),    # "for … siden" is a time ago
    ("engine+enclosed", "garasjeporten er lukket og motoren går"),
]


@pytest.mark.parametrize("rule,text", RULES, ids=[f"{r}:{t[:30]}" for r, t in RULES])
def test_concepts_that_make_a_crisis_together_get_the_answer(rule: str, text: str) -> None:
    assert assess(text) < 2                     # the phrase lists alone miss it
    tier, _, fired = concepts.evidence(text)
    assert tier == 2 and rule in fired
    first, where = assess_where(text)
    assert combine_rules(first, text, where) == 2
    # The learned stage may lower it to a quiet note for the consultant when nearly sure it is
    # no crisis (moderation/crisis_combine.answers; "I doubt I will make it to easter", 0.079),
    # never to nothing.
    assert combined_tier(text) >= 1


def test_each_part_alone_is_not_a_crisis() -> None:
    for text in ("I know how and when to ask for help now", "we have decided where and when the wedding is",
                 "I won't be here for christmas, visiting my dad", "my neighbour is taking the dog for a walk",
                 "the vet does not know why the cat limps", "put my passwords in a password manager",
                 "warmed the engine up in the driveway", "I know exactly how you feel",
                 "har sluttet å ta tablettene sammen med legen", "vi gir bort katten fordi vi flytter",
                 "picked up some milk from the store", "the rope is long", "har skaffet meg ny jakke",
                 "i morgen er det fredag", "gave my plants to the neighbour", "counted my coins",
                 "takk for alt", "on the roof of the car", "when nobody is home i read",
                 "does anyone else get so tired on quetiapine?", "tok to paracet for hodepinen",
                 "the pharmacist sorted my sertraline into a weekly box", "har tatt lithium i ti år nå",
                 "had a glass of wine with my sertraline, is that ok?", "took the bus and then the train",
                 "skar opp brødet og smurte matpakke", "kuttet håret kort i dag"):
        assert concepts.assess(text) < 2, text


# (crisis, the same undone by one clear signal) — in both languages for each signal.
SUPPRESSED = {
    "someone else": [("relapsed on sh last night and want to do it again",
                      "my friend relapsed on sh last night and wants to do it again"),
                     ("har skaffet meg et tau", "han har skaffet seg et tau")],
    "negation": [("going to burn myself again tonight", "not going to burn myself again tonight"),
                 ("skal brenne meg igjen i kveld", "jeg har ingen planer om å brenne meg igjen i kveld")],
    "recovered past": [("burned myself again and again, not sure i can stop",
                        "years ago i burned myself again and again, now i am much better"),
                       ("brant meg igjen og igjen",
                        "for mange år siden brant jeg meg igjen og igjen, nå har jeg det mye bedre")],
    "idiom": [("i am dying tonight", "i am dying laughing tonight"),
              ("jeg dør i kveld", "jeg dør av latter i kveld")],
    "everyday use": [("bought a rope today", "bought a rope for the hammock today"),
                     ("har skaffet meg et tau", "har skaffet meg et tau til båten")],
    "fiction or news": [("thinking about suicide tonight", "watched a film about suicide tonight"),
                        ("tenker på selvmord i kveld", "så en film om selvmord i kveld")],
    "helping someone": [("bought a rope today, i know where", "how can i help my friend, he bought a rope today"),
                        ("har skaffet meg et tau", "hvordan kan jeg hjelpe vennen min, han har skaffet seg et tau")],
    "a way back": [("this is my last message", "this is my last message, see you next week"),
                   ("dette er siste innlegget mitt", "dette er siste innlegget mitt, vi ses neste uke")],
    "routine": [("counted my pills, should be enough", "took my pills this morning as usual, counted them, enough"),
                ("har spart opp pillene, det holder", "tok pillene mine som vanlig, har spart opp nok til ferien")],
}
PAIRS = [(kind, crisis, undone) for kind, pairs in SUPPRESSED.items() for crisis, undone in pairs]


@pytest.mark.parametrize("kind,crisis,undone", PAIRS, ids=[f"{k}:{u[:30]}" for k, _, u in PAIRS])
def test_a_clear_signal_undoes_the_concept(kind: str, crisis: str, undone: str) -> None:
    assert concepts.assess(crisis) == 2
    assert concepts.assess(undone) < 2


def test_a_drink_is_an_everyday_use_except_beside_an_amount_of_pills() -> None:
    assert concepts.assess("sitting on the bridge with a beer watching the sunset") < 2
    assert concepts.assess("drakk vin og svelget resten av sertralinen") == 2
    assert concepts.assess("drakk vin og tok to paracet for hodepinen") < 2


def test_an_undone_method_or_death_is_still_a_quiet_note() -> None:
    assert concepts.assess("han har skaffet seg et tau") == 1
    assert concepts.assess("watched a film about suicide tonight") == 1
    assert concepts.assess("counted my coins, should be enough") == 0


def test_stage_ones_mention_is_overruled_only_by_strong_evidence() -> None:
    strong = "har kjøpt tau og vet hvor jeg skal gjøre det"        # a method bought: stage one says mention
    assert assess(strong) == 1 and concepts.evidence(strong)[1]
    assert combined_tier(strong) == 2
    weak = "I tried to end it years ago"
    assert combine_rules(1, weak) <= 1
    # The rules alone: a farewell with finality is a crisis, but not against stage one's reading
    # of a mention (the learned stage, combined after this, may still answer it).
    farewell = "thanks for everything, you won't hear from me again, i won't be needing this account"
    assert not concepts.evidence(farewell)[1]
    assert combine_rules(1, farewell) == 1 and combine_rules(0, farewell) == 2
    assert combine_rules(2, "hello") == 2


@pytest.mark.parametrize("text", [
    "I have no plans to hurt myself, I just need to vent about work",          # a negation
    "this is my last post before the holidays, see you all in january!",       # a way back
    "it's been a year since I last self-harmed and I'm proud of that",         # a past come through
    "picked the spot for our picnic, the park by the lake, friday at noon!",   # a purpose named with it
])
def test_a_clearly_scoped_mention_lowers_stage_ones_answer_to_a_note(text: str) -> None:
    assert assess(text) == 2                    # the phrase lists alone answer
    assert combined_tier(text) == 1


@pytest.mark.parametrize("text", [
    "I have no plans to hurt myself, but I bought a rope today",                # a live concern elsewhere
    "this is my last post. see you all never",
    "been saving up my meds for two weeks and i think tonight is the night",   # "for two weeks" is no purpose
])
def test_stage_one_stands_when_anything_else_points_to_a_crisis(text: str) -> None:
    tier, where = assess_where(text)
    assert combine_rules(tier, text, where) == 2
    # The learned stage may lower a rule's answer to a quiet note when it is nearly sure
    # (p < doubt_below; on three blind sets that kept 22 false alarms from the authors and
    # cost 4 answers), but never to nothing.
    assert combined_tier(text) >= 1


def test_spelling_games_are_undone_as_in_stage_one() -> None:
    assert concepts.assess("b0ught a r0pe t0day") == 2
    assert concepts.assess("har skaffa meg et tauuu") == 2
    assert concepts.assess("GAVE AWAY my cat. wont need her where Im going") == 2


def test_the_benchmark_counts_what_the_bot_does() -> None:
    posts = [Post("en", False, True, "wrote letters to my kids and put them in the drawer"),
             Post("nb", False, True, "ga bort hunden min, trenger den ikke der jeg skal"),
             Post("en", False, False, "bought a new rope for the climbing gym today")]
    result = run(posts, rounds=1)
    assert result.total("crisis").recall == 1.0 and result.total("crisis").false_alarms == 0.0


def test_a_long_post_is_fast() -> None:
    import time
    text = "i have been feeling low for weeks and my sister says i should talk to someone. " * 20
    start = time.perf_counter()
    for _ in range(20):
        concepts.assess(text)
    assert (time.perf_counter() - start) / 20 < 0.05


from tests.test_safety_crisis import group, sent  # noqa: E402,F401  (the group fixture)


async def test_a_post_only_the_concept_stage_reads_gets_the_answer_and_the_alert(group) -> None:
    rt, h = await group()
    await h.say("ann", "ga bort hunden min i dag, trenger den ikke der jeg skal")
    assert any("116 123" in m.text for m in sent(h, "ann"))
    assert len([m for m in sent(h, "lillian") if m.buttons]) == 1


async def test_a_kind_everyday_post_gets_neither(group) -> None:
    rt, h = await group()
    await h.say("ann", "kjøpte tau til båten i dag, skal ut og fiske i morgen")
    assert not any("116 123" in m.text for m in sent(h, "ann"))
    assert not [m for m in sent(h, "lillian") if m.buttons]


# Rules added for the blind sets' misses, each a general way of telling it (examples written
# here, not taken from the sets): the rule that fires, and everyday posts with the same words.
NEW_RULES = [
    ("ligature+anchor", "knotted my belt round the banister and tested it, it holds"),
    ("ligature+anchor", "har knyttet beltet rundt gelenderet og testet det"),
    ("ligature+anchor", "got a cord and a ceiling hook. it's not for the plants"),
    ("ligature+anchor", "kabelen er festet i takkroken. det er ikke til lampa"),
    ("overdose+now", "took the whole box about half an hour ago. so dizzy"),
    ("overdose+now", "tok 30 sovetabletter for en halvtime siden"),
    ("overdose+now", "no idea how many i took, 30? 40? the room is spinning"),
    ("rehome+reason", "left my dog with my aunt and told her it was for a trip. it isn't"),
    ("rehome+reason", "ga bort hunden til kollegaen min. sa det var mens jeg er på reise. det stemmer ikke"),
    ("rehome+permanent", "dropped off my cat at my cousin's today, said she can keep her forever"),
    ("rehome+permanent", "leverte kaninen til naboen i dag, hun kan beholde den for godt"),
    ("denial+means", "does anyone know if the car park roof is open at night? not for the view"),
    ("hoard", "i've got all the pills from the doctor saved. sunday"),
    ("hoard", "har spart tablettene fra legen, i kveld"),
    ("place+there", "how do you get onto the roof of the hospital? need to know before tonight"),
    ("place+there", "writing this before i change my mind. the railway line is two minutes from my house"),
    ("place+there", "planen e å gå te brua etter skolen i morgen"),
    ("when_it+reason", "no one is home until sunday. that's when"),
    ("when_it+reason", "når alle har lagt seg i natt, da skjer det"),
    ("voices+act", "stemmene sier det skjer i natt"),
    ("exhaust+car", "bought a hose and duct tape for the car. driving out to the woods later"),
    ("exhaust+car", "har kjøpt slange og teip, bilen står klar i garasjen"),
    ("legacy+reason", "har skrevet bursdagskort til ungene på forskudd, de får dem etterpå"),
    ("legacy+reason", "picked the songs for my funeral this week. they'll be needed soon"),
    ("disposal+final", "cancelled all my appointments with the psychiatrist. won't need them after this week"),
    ("disposal+final", "overførte sparepengene til søstera mi. det siste på lista"),
    ("farewell+final", "takk for alt folkens, var godt å kjenne dere"),
    ("farewell+final", "told my dad i love him for the first time in years. now i can go"),
    ("hopeless+final", "klarer ikke en jul til. etter nyttår så er jeg borte"),
    ("prepare+final", "de tok beltet mitt, men jeg har funnet en annen måte. i morgen er jeg borte"),
    ("selfharm+urge", "vil gjøre meg skikkelig vondt i kveld, klarer ikke la være"),
    ("blade+at_hand", "scared of what i might do tonight, the knives are right there"),
    ("denial+means", "hva er den minst smertefulle måten? ikke til en bok"),
    ("ligature+anchor", "tied my belt to the curtain pole and checked it would hold"),      # "to" a rail is where
    ("overdose+now", "svelget alt i baderomsskapet for et kvarter siden. rommet snurrer"),
    ("rehome+reason", "my sister is getting the dog on monday. she doesn't know it's forever"),
    ("legacy+reason", "skrev julekort til gudbarna for de neste fire årene. de får dem etterpå"),
    ("plan+reason", "the nurse thinks i'm fine now. i let her think that. it will be friday"),
    ("plan+reason", "legen tror jeg er bedre. jeg lar ham tro det. datoen er fredag"),
    ("place+there", "drove up to the cliff car park. sitting here still deciding"),
    ("legacy+reason", "updated my will on monday. saturday it is, while they are away"),
    ("disposal+final", "slettet kontoene og bildene mine i går. så er jeg borte"),
    ("withheld+hidden", "pretended to take my lithium in front of the staff all week. it's under my mattress"),
    ("withheld+hidden", "later som jeg tar medisinene når de sjekker. de ligger i putetrekket"),
    ("pills+stash", "the tablets are on the bed and i'm taking them all at once"),
    ("pills+stash", "tablettene ligger klare, tar alle sammen etter dette innlegget"),
    ("denial+means", "my husband thinks i'm at the gym. i'm on the top floor of the car park"),
    ("denial+means", "kona tror jeg er på jobb. jeg står på brua"),
    ("place+there", "waiting for the last train to pass, then i walk onto the motorway"),
]


@pytest.mark.parametrize("text", [
    "knotted my belt round the banister and tested it, it holds",
    "tok 30 sovetabletter for en halvtime siden",
    "took the whole box about half an hour ago. so dizzy",
])
def test_a_sure_rule_is_not_lowered_by_the_model(text: str) -> None:
    assert combined_tier(text) == 2


EVERYDAY_LOOKALIKES = [
    "hung the fairy lights from the beam with a cable, tested it and it holds, looks so cosy",
    "bought a new belt and a hook for the hallway today, finally somewhere to hang my coat",
    "tied the dog lead to the hook outside the shop and it held, he didn't even bark",
    "hengte opp lysslynga i bjelken med en skjøteledning, testet og den holder",
    "knyttet hundebåndet til kroken utenfor butikken og det holdt",
    "kjøpte en ny ledning og en stor krok til lampa i stua",
    "my neighbour is keeping the dog forever, she fell in love with him when i was in hospital",
    "naboen får beholde hunden for alltid, hun ble så glad i ham mens jeg var innlagt",
    "gave my cat to my sister for the week while i'm at the conference, she thinks it's hilarious",
    "does anyone know if the roof terrace at the library is open in the evening? i want photos of the sunset",
    "took my meds this morning and now i feel dizzy, is that normal on sertraline?",
    "took 2 ibuprofen an hour ago and my head is still spinning from the migraine",
    "tok 50 mg quetiapin for en time siden og er så svimmel, er det vanlig?",
    "took the whole day off and slept, still feel dizzy though",
    "took 15 minutes to get the kids out the door and my head is spinning",
    "sitter på legevakta med kjæresten min som tok en overdose. hun er stabil",
    "lol brant toasten igjen. ikke en spøk, røykvarsleren gikk to ganger",
    "i går skar jeg meg på brødkniven, blødde som bare det",
    "the concert is at 9, doors open at 8. that's when the fun starts",
    "the voices in my head say it's time for pizza tonight lol",
    "posting this before i lose my nerve: i have a crush on someone in my group",
    "the station is five minutes from my flat which is great for commuting",
    "made a playlist for my funeral years ago as a joke, it's all abba",
    "cancelled my appointment with the dentist, rebooked for next week",
    "moved all my savings to a better account, the interest was terrible",
    "was nice knowing you all, i'm moving to bergen for work but i'll pop in here sometimes",
    "bought a hose and tape to fix the garden sprinkler",
    "what's the least painful way to get a tattoo? asking for a friend",
    "told my mum i love her today, first time in years. now i can go to bed happy",
    "while they are away i'm going to paint the living room as a surprise",
    "konserten er klokka 21. da skjer det",
    "stemmene sier at det er pizza i kveld lol",
    "stasjonen er fem minutter fra leiligheten, supert for pendling",
    "avbestilte timen hos tannlegen, fikk ny time neste uke",
    "var fint å kjenne dere, flytter til Bergen for jobb men titter innom her",
    "kjøpte slange og teip til vanningsanlegget i hagen",
    "hva er den minst smertefulle måten å ta tatovering på? spør for en venn",
    "skrev julekort på forskudd i år, er så flink",
    "orker ikke en vinter til med denne snøen, og så er jeg ferdig med vinterdekk for i år",
    "skal gjøre meg skikkelig vondt i beina på treninga i kveld lol",
    "tied the scarf to the curtain rail as a tie-back, looks really nice actually",
    "knyttet skjerfet til gardinstanga som pynt, ble fint",
    "my daughter doesn't know it's her surprise party tomorrow, don't tell her",
    "dattera mi vet ikke at det er overraskelsesfest i morgen",
    "my brother is getting my cat on thursday while i'm at my course, she loves him",
    "betalte bilforsikringa for de neste tre årene, deilig",
    "tok med alt i kjøleskapet til matsentralen for et kvarter siden",
    "the date is friday for the wedding, we're so excited",
    "datoen er lørdag for bryllupet, gleder oss",
    "drove to the coast today, still deciding where to eat",
    "booked the flights in advance this year so it's cheaper, my mum will understand later",
    "kjøpte julegaver på forskudd i år, ungene får dem etterpå når vi er hjemme igjen",
    "da skjer det, endelig ferie!",
    "that's when i realised i'd left the oven on",
    "før jeg ombestemmer meg: jeg meldte meg på 5 km løpet!",
    "avbestilte timen hos fastlegen, er bedre nå så trenger den ikke",
    "updated my will while the kids were at camp, feels very grown up",
    "changed my will last year after the divorce, finally sorted",
    "deleted all my old photos from facebook, starting fresh with the new job",
    "endret testamentet etter at vi fikk barn nummer to, advokaten var grei",
    "put the step ladder under the loft hatch to get the christmas decorations down, my belt snapped lol",
    "lot som jeg tok medisinene i en uke og det ble kjempeille. er tilbake på dem nå og har snakket med legen",
    "luka og jeg skal på kino i kveld, gleder meg",
    "skal ta alle ungene med på kino i helga",
    "my mum thinks i'm at the gym but i'm actually at the cinema with friends lol",
    "mamma tror jeg er på trening, men jeg er på kino med venner lol",
    "caught the last bus home after the concert, knackered",
    "the motorway was closed so we took the scenic route to the cabin",
]


@pytest.mark.parametrize("text", EVERYDAY_LOOKALIKES, ids=[t[:40] for t in EVERYDAY_LOOKALIKES])
def test_everyday_posts_with_the_new_rules_words_get_no_answer(text: str) -> None:
    assert concepts.evidence(text)[0] < 2
    assert combined_tier(text) < 2


def test_norwegian_verb_first_order_is_the_same_statement() -> None:
    # "i dag kutta jeg meg" says "jeg kutta meg"; with "igjen" it is self-harm again
    assert "selfharm+again" in concepts.evidence("i går kveld skar jeg meg igjen")[2]
    assert "selfharm+again" in concepts.evidence("i natt skadet jeg meg igjen, verre enn før")[2]


def test_no_joke_said_elsewhere_keeps_a_laugh_from_making_it_figurative() -> None:
    assert assess("haha i'm going to kill myself tonight. not a joke") == 2
    assert assess("haha jeg skal ta livet av meg i kveld. ikke en spøk") == 2
    assert assess("haha this exam will kill me") < 2


@pytest.mark.parametrize("text", [
    "i don't want to die, i just want the mornings to be less heavy. small steps",
    "jeg vil ikke dø, jeg vil bare at det skal bli litt lettere å stå opp om morgenen",
    "i am not going to kill myself, i just needed to vent somewhere tonight",
])
def test_a_denial_of_wanting_to_die_is_not_answered_by_the_model_alone(text: str) -> None:
    first, where = assess_where(text)
    tier, _, denied = concepts_combine.rules_reading(first, text, where, with_denial=True)
    assert tier < 2 and denied
    assert combined_tier(text) < 2


def test_a_denial_with_something_else_pointing_to_a_crisis_is_no_denial() -> None:
    text = "i don't want to die but i have the rope in my bag"
    first, where = assess_where(text)
    assert not concepts_combine.rules_reading(first, text, where, with_denial=True)[2]
    assert not concepts_combine.answers(False, True, 0.9, 12, 0.6, 0.08, denied=True)
    assert concepts_combine.answers(True, True, 0.9, 12, 0.6, 0.08, denied=True)


@pytest.mark.parametrize("text", [
    "nearly died of fright when the smoke alarm went off at 3am",
    "holdt på å dø av skrekk da røykvarsleren gikk i natt",
    "laptop is about to die and the charger is at work",
    "mobilen holder på å dø, svarer i morgen",
    "that back pass was pure suicide, how is he still in the team",
    "det var rene selvmordet av keeperen å gå ut på den ballen",
])
def test_dying_of_a_feeling_a_device_or_a_reckless_play_is_an_idiom(text: str) -> None:
    assert concepts.evidence(text)[0] < 2


def test_a_rope_named_by_its_everyday_kind_is_no_method() -> None:
    assert concepts.evidence("there's a rope in my car, it's a tow rope for the trailer. today again")[0] < 2
    assert concepts.evidence("har tau i sekken i dag, men det er klatretau til helga")[0] < 2


def test_never_again_is_a_denial() -> None:
    text = "i am never going to cut again, threw the blades in the bin today and i feel proud"
    first, where = assess_where(text)
    assert concepts_combine.rules_reading(first, text, where, with_denial=True)[2]


# Blind set 10's categories (tests/data/safety_blind10_crisis.txt): finality and goodbyes, the
# others rid of the writer, a gun, cord or hose, an overdose taking effect, a time given as a
# decision, a failed attempt to be done properly, what is deleted or given away. Sentences
# written for these tests, not the set's.
BLIND10_RULES = [
    ("riddance", "soon you lot will be rid of me for good"),
    ("riddance", "snart er det en mindre å bekymre seg for, lover"),
    ("method+armed", "dad keeps a pistol in the drawer and it is loaded"),
    ("method+armed", "geværet står i gangen og er ladd"),
    ("ingested+covert", "i took all of them an hour ago, please do not call an ambulance"),
    ("ingested+covert", "har tatt alle sammen, ikke ring legevakta"),
    ("decided+near", "the flat will be empty on sunday. that is when"),
    ("bare_time+reason", "nothing left to hold on to. tuesday."),
    ("cord+ready", "the noise never stops, i just want it off. the cord is ready in the loft"),
    ("cord+tied", "the cord is tied to the beam in the shed. i am out there now"),
    ("cord+tied", "ledningen er festet i bjelken på loftet. sitter der nå"),
    ("decided_soft+reason", "the house is empty on thursday. that is the day"),
    ("effect+dose", "the pills are kicking in, heart pounding, no regrets"),
    ("effect+dose", "tablettene begynner å virke og hjertet raser. angrer ikke"),
    ("effect+dose", "blacked out after the first box, awake again, taking the rest now"),
    ("effect+dose", "besvimte etter det første brettet og våknet nå. tar resten"),
    ("failed+retry", "last week it did not work. this weekend i will do it properly"),
    ("failed+retry", "våknet på sykehuset sist. neste gang blir det riktig, i morgen"),
    ("last_left+disposal", "deleted all my accounts, this is the last one left"),
    ("last_left+disposal", "slettet alle kontoene mine. denne er den siste som er igjen"),
    ("farewell+final", "hugged my mum longer than usual tonight, it was the last time i will see her"),
    ("farewell+final", "klemte pappa ekstra lenge i dag. det er siste gangen"),
    ("lastpost", "might be my last msg on here"),
    ("lastpost", "signing off for good"),
    ("farewell+final", "if i do not post again it is not your fault"),
    ("farewell+final", "blir stille fra meg nå, og det er ikke deres skyld"),
    ("absent+occasion", "i am not planning to be here in april"),
    ("absent+occasion", "jeg har ikke tenkt å være her i april"),
    ("absent+occasion", "jeg rekker ikke påske"),
    ("absent+occasion", "er ikke her etter i kveld, så ikke vent på meg"),
    ("legacy+reason", "fylte ut donorkortet og skrev hvem som skal ha hva. rekker ikke sommeren"),
    ("rehome+reason", "gave my dog to my cousin and told him it was only for a while. it is not"),
    ("method+at_hand", "i am in the car with the hose through the window"),
    ("water+reason", "går inn i skogen i kveld og kommer ikke ut igjen"),
    ("water+reason", "ingenting igjen å leve for. går ut på isen i natt"),
    ("hoard", "hentet ut alt på en gang på apoteket, nok til i kveld"),
]


@pytest.mark.parametrize("rule,text", NEW_RULES + BLIND10_RULES,
                         ids=[f"{r}:{t[:30]}" for r, t in NEW_RULES + BLIND10_RULES])
def test_new_rules_fire(rule: str, text: str) -> None:
    tier, _, fired = concepts.evidence(text)
    assert tier == 2 and rule in fired
    first, where = assess_where(text)
    assert combine_rules(first, text, where) == 2


@pytest.mark.parametrize("text", [
    "you will be rid of me for a week, off to crete on monday",              # a trip
    "dere slipper meg en uke, skal til Kreta",
    "the rifle is loaded for the hunting trip tomorrow",                      # a gun for sport
    "geværet er ladd, vi skal på elgjakt i morgen",
    "the cord for the lamp is ready, just need a plug",
    "ledningen til laderen ligger klar i vesken",
    "tied the cord for the fairy lights to the banister",
    "my heart is racing before the exam, took a deep breath",                 # a symptom alone
    "the new meds are kicking in, sleeping better already",
    "hjertet hamrer før eksamen i morgen",
    "tried the bread recipe yesterday and it did not work",                   # a failure, nothing to redo
    "deleted all my old photos, this is the last one left of grandad",        # a photo kept
    "hugged my friend longer than usual at the airport, see you in june!",
    "sa til naboen at det bare var for en stund, katten kommer hjem på søndag",
    "Endelig. Fredag.",                                                      # a day alone, no ending named
    "Thank you everyone! Friday.",
    "fikk hentet ut hele resepten på apoteket i dag, dosetten er fylt",       # a refill
    "sorting out who gets what from my aunt's flat",
    "won't be here in march, moving to bergen",
    "jeg er ikke her i mars, skal på ferie til spania",
    "er ikke her i morgen, skal på jobb",
    "vi går ut på isen og fisker i kveld",
    "that is when i realised i needed help",
    "the game starts at seven. that is when",
    "said goodbye to my old phone today. rest in peace",
    "sa farvel til den gamle sykkelen i dag. hvil i fred",
])
def test_blind10_everyday_uses_of_the_same_words_are_not_a_crisis(text: str) -> None:
    assert concepts.assess(text) < 2


@pytest.mark.parametrize("text,tier", [
    ("klarer ikke en eneste dag til", 2), ("can not face one more day", 2),       # not one day more
    ("klarer ikke en dag til med denne forkjølelsen", 1),                       # fed up with a cold
    ("I can't do one more day of this heat", 1),
    ("Jeg må gjøre det slutt med kjæresten.", 1),                               # a break-up
    ("if I hear that advert one more time I'm going to kill myself", 1),         # hyperbole
])
def test_blind10_stage_one_phrases(text: str, tier: int) -> None:
    assert assess(text) == tier


@pytest.mark.parametrize("rule,text", [
    ("decided_soft+reason", "monday. that is when it happens"),                 # a day alone, then "that's when"
    ("decided_soft+reason", "tirsdag. da skjer det"),
    ("rehome+reason", "gave my dog to my aunt and said it was temporary. it will not be"),
    ("rehome+reason", "ga bort katten til naboen og sa det var midlertidig. det er det ikke"),
    ("lastpost", "if i go quiet after tonight, that is why"),
    ("farewell+final", "dette er siste meldinga. det er ikke deres feil"),
])
def test_blind10_variants_get_the_answer_from_the_rules(rule: str, text: str) -> None:
    assert rule in concepts.evidence(text)[2]


def test_blind10_variants_in_everyday_use() -> None:
    assert concepts.assess("it did not work, i will try the recipe again tonight, properly") < 2
    # "rundt 2015" tells a past like "i 2015"
    assert concepts.assess("skadet meg selv mye rundt 2015. har ikke gjort det på ni år nå") < 2
    assert assess("hvis de spiller den sangen igjen så hopper jeg ut av vinduet") < 2


@pytest.mark.parametrize("rule,text", [
    ("decided_soft+reason", "lørdag. da er det over"),                          # a day alone, then it ends
    ("decided_soft+reason", "tonight. decided"),
    ("absent+occasion", "tror ikke jeg rekker bursdagen min"),
    ("absent+occasion", "I won't be around after easter"),
    ("lastpost", "if i do not show up here again, please do not be sad"),
])
def test_blind10_fourth_pass_gets_the_answer_from_the_rules(rule: str, text: str) -> None:
    assert rule in concepts.evidence(text)[2]


@pytest.mark.parametrize("text", [
    "dere slipper meg i morgen, skal på kurs",                                  # a course, not a goodbye
    "I won't be around at easter, visiting my gran",
    "fredag. da er det fredagspizza",
])
def test_blind10_fourth_pass_everyday(text: str) -> None:
    assert concepts.assess(text) < 2
