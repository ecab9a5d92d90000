"""Text folds for comparing names and companies, not for matching on their own.

``fold_text`` removes what people spell differently without meaning something
different: accents, case, punctuation, repeated whitespace. ``fold_name`` also
maps common nicknames to the given name, ``fold_company`` drops legal-form
suffixes. Probabilistic matching compares these folded forms.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["LEGAL_SUFFIXES", "NICKNAMES", "fold_company", "fold_name", "fold_text"]

# Letters NFKD does not decompose into a base letter plus a mark.
_NON_DECOMPOSING = str.maketrans(
    {"ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe", "\u0131": "i"}
)
_PUNCT_RE = re.compile(r"[^\w\s]|_")
_SPACE_RE = re.compile(r"\s+")

NICKNAMES: dict[str, str] = {
    "bob": "robert", "bobby": "robert", "rob": "robert", "robbie": "robert",
    "liz": "elizabeth", "lizzie": "elizabeth", "beth": "elizabeth", "betty": "elizabeth",
    "bill": "william", "billy": "william", "will": "william", "willy": "william",
    "jim": "james", "jimmy": "james", "jamie": "james",
    "mike": "michael", "mick": "michael", "dick": "richard", "rick": "richard",
    "tom": "thomas", "tommy": "thomas", "dave": "david", "steve": "stephen",
    "kate": "katherine", "katie": "katherine", "kathy": "katherine",
    "jenny": "jennifer", "jen": "jennifer", "sue": "susan", "peggy": "margaret",
    "maggie": "margaret", "meg": "margaret", "chris": "christopher", "tony": "anthony",
    "alex": "alexander", "sam": "samuel", "ben": "benjamin", "dan": "daniel",
    "joe": "joseph", "matt": "matthew", "nick": "nicholas", "ed": "edward",
    "ted": "edward", "andy": "andrew", "pat": "patricia", "patty": "patricia",
    # Common English nicknames that name one given name (Chris, Sam or Jo name several,
    # so they stay as written and only a prefix or a typo makes them compatible).
    "abby": "abigail", "abe": "abraham", "albie": "albert", "alf": "alfred",
    "alfie": "alfred", "angie": "angela", "archie": "archibald", "art": "arthur",
    "artie": "arthur", "barb": "barbara", "barbie": "barbara", "becky": "rebecca",
    "becca": "rebecca", "bex": "rebecca", "bernie": "bernard", "cathy": "catherine",
    "chuck": "charles", "cindy": "cynthia", "connie": "constance", "danny": "daniel",
    "debbie": "deborah", "debs": "deborah", "deb": "deborah", "dom": "dominic",
    "donny": "donald", "dottie": "dorothy", "dot": "dorothy", "doug": "douglas",
    "eddie": "edward", "fred": "frederick", "freddie": "frederick", "gabe": "gabriel",
    "geoff": "geoffrey", "greg": "gregory", "hank": "henry", "jackie": "jacqueline",
    "jake": "jacob", "jeff": "jeffrey", "jess": "jessica", "jessie": "jessica",
    "johnny": "john", "jonny": "jonathan", "josh": "joshua", "judy": "judith",
    "ken": "kenneth", "kenny": "kenneth", "kev": "kevin", "kim": "kimberly",
    "larry": "lawrence", "len": "leonard", "lenny": "leonard", "mandy": "amanda",
    "marty": "martin", "mikey": "michael", "nate": "nathan", "ned": "edward",
    "ollie": "oliver", "olly": "oliver", "pam": "pamela", "patsy": "patricia",
    "penny": "penelope", "phil": "philip", "ray": "raymond", "reg": "reginald",
    "reggie": "reginald", "rich": "richard", "richie": "richard", "ricky": "richard",
    "ron": "ronald", "ronnie": "ronald", "russ": "russell", "stan": "stanley",
    "stu": "stuart", "suzy": "susan", "suzie": "susan", "theo": "theodore",
    "tim": "timothy", "timmy": "timothy", "toby": "tobias", "trish": "patricia",
    "vicky": "victoria", "vicki": "victoria", "vince": "vincent", "walt": "walter",
    "zach": "zachary", "zack": "zachary", "benny": "benjamin", "benji": "benjamin",
    "joey": "joseph", "drew": "andrew", "alec": "alexander", "steph": "stephanie",
    "stevie": "stephen", "baz": "barry",
}  # fmt: skip

LEGAL_SUFFIXES: frozenset[str] = frozenset(
    {
        "ltd", "limited", "inc", "incorporated", "gmbh", "llc", "llp", "plc", "corp",
        "corporation", "co", "company", "sa", "sas", "sarl", "srl", "spa", "ag", "bv",
        "nv", "oy", "ab", "as", "pty", "pte", "kg", "kk", "se", "lp",
    }
)  # fmt: skip


@lru_cache(maxsize=1 << 16)  # names repeat across a person's signals: fold once
def fold_text(s: str) -> str:
    """Accent-, case-, punctuation- and whitespace-insensitive form of ``s``.

    >>> fold_text("  Zoë  O'Brien-Łukasz ")
    'zoe o brien lukasz'
    """
    # Casefold between two NFKD passes: compatibility forms (㏗) only gain case once
    # decomposed, and casefolding can produce new decomposable letters (İ → i̇).
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", s).casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.translate(_NON_DECOMPOSING)
    text = _PUNCT_RE.sub(" ", text)
    return _SPACE_RE.sub(" ", text).strip()


@lru_cache(maxsize=1 << 16)
def fold_name(s: str) -> str:
    """``fold_text`` plus nickname expansion: ``Bob Smith`` → ``robert smith``."""
    return " ".join(NICKNAMES.get(token, token) for token in fold_text(s).split())


def fold_company(s: str) -> str:
    """``fold_text`` without trailing legal forms: ``ACME Widgets, Ltd.`` → ``acme widgets``.

    Only trailing tokens are dropped (``Co-op Bank`` keeps its ``co``), and never
    the first token, so ``AG`` alone stays ``ag``. A dotted ``G.m.b.H.`` is
    recognised too.
    """
    tokens = fold_text(s.replace(".", "")).split()
    while len(tokens) > 1 and tokens[-1] in LEGAL_SUFFIXES:
        tokens.pop()
    if len(tokens) > 1 and tokens[-1] == "and":
        tokens.pop()
    return " ".join(tokens)
