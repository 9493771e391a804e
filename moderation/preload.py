"""Load the checks' tables at start-up instead of at the first post.

The phrase lists, the crisis model, the name lists and the place lists are loaded on first
use, and so were built while the bot was serving people: the first post after a start waited
for them, and the objects they are made of stayed in the garbage collector's view, walked in
every full collection (which holds the GIL, so it stalls the event loop). Loaded before
``bot.dbthread.freeze_startup_objects``, they are frozen with the modules.
"""
from __future__ import annotations

from bot.config import Config
from moderation.crisis import combined_tier, configured_words
from moderation.disclosure_detect import detect

# Texts that reach every table: both languages, the phrase and concept stages, the model
# (a long post), and each kind of detail the disclosure guard looks for.
SAMPLES = (
    "I can't do this any more, tonight I will take all the pills I have saved, nobody would notice",
    "Jeg orker ikke mer, i natt tar jeg alle pillene jeg har spart på, ingen ville merket det",
    "Call me on 912 34 567 or mail zed@example.org, I live at 12 High Street and work at Kiwi",
    "Ring meg på +47 912 34 567, jeg bor i Storgata 5, 0150 Oslo, og jobber på Nordby skole",
)


def load_tables(config: Config) -> None:
    extra = configured_words(config.safety.crisis_words)
    local = config.safety.local_place_names
    for text in SAMPLES:
        combined_tier(text, extra)
        detect(text, local=local, pseudonym="Willow")
