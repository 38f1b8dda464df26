"""Write samples/samplewiki-history.xml: a small, hand-written full-history dump (schema 0.11).

The page histories below are written for revmine (not copied from Wikipedia); running this script
regenerates the XML so that <sha1>, bytes and parent ids are consistent. Edits cover the cases the
pipeline must handle: typo fixes, added sentences and references, a vandalism + revert, a bot
adding a category, a minor edit, an anonymous editor, a null edit and a suppressed comment.
"""
from __future__ import annotations

import hashlib
import os
from xml.sax.saxutils import escape

HERE = os.path.dirname(os.path.abspath(__file__))


def sha1_base36(text: str) -> str:
    n = int.from_bytes(hashlib.sha1(text.encode()).digest(), "big")
    digits, out = "0123456789abcdefghijklmnopqrstuvwxyz", ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out.rjust(31, "0")


LIGHTHOUSE_0 = """A '''lighthouse''' is a tower built to emit light from a system of lamps and lenses. It serves as a navigatonal aid for maritime pilots at sea or on inland waterways.

== History ==
The earliest lighthouses were fires lit on hilltops. The [[Lighthouse of Alexandria]] was built in the 3rd century BC.
"""

LIGHTHOUSE_EDITS = [
    # (user, user_id or None for IP, comment, minor, transform)
    ("Seawatcher", 1201, "Fix typo", True, lambda t: t.replace("navigatonal aid", "navigational aid")),
    ("Seawatcher", 1201, "/* History */ expand with Roman lighthouses", False,
     lambda t: t + "The Romans built lighthouses across their empire, including the [[Tower of Hercules]] in Spain, which is still in use.\n"),
    ("Harbourmaster", 877, "add infobox and reference", False,
     lambda t: "{{Infobox building\n| name = Lighthouse\n| type = Navigational aid\n}}\n" + t.replace(
         "in the 3rd century BC.", "in the 3rd century BC.<ref>{{cite book |last=Stevenson |title=Lighthouses of the World |year=1959}}</ref>")),
    ("203.0.113.7", None, "", False, lambda t: t.replace("is a tower built", "is a really cool tower built")),
    ("Harbourmaster", 877, "Reverted edits by [[Special:Contributions/203.0.113.7|203.0.113.7]] to last version by Harbourmaster", False, None),
    ("Lampwick", 3310, "/* Lenses */ new section on Fresnel lenses", False,
     lambda t: t + "\n== Lenses ==\nMost modern lighthouses use a [[Fresnel lens]], which concentrates light into a narrow beam. The lens was invented by [[Augustin-Jean Fresnel]] in 1822.\n"),
    ("Lampwick", 3310, "copyedit", True,
     lambda t: t.replace("which concentrates light into a narrow beam", "which focuses the light into a narrow, powerful beam")),
    ("CategoryBot", 9001, "Bot: adding [[Category:Lighthouses]]", True, lambda t: t + "\n[[Category:Lighthouses]]\n[[Category:Navigation]]\n"),
    ("Seawatcher", 1201, "Add automation paragraph", False,
     lambda t: t.replace("\n== Lenses ==", "\n== Automation ==\nBy the late 20th century most lighthouses had been automated, and the role of the [[lighthouse keeper]] largely disappeared.\n\n== Lenses ==")),
    ("Seawatcher", 1201, "null edit", True, lambda t: t),
    ("Gull42", 4410, None, False,  # suppressed comment
     lambda t: t.replace("The earliest lighthouses were fires lit on hilltops.", "The earliest lighthouses were fires lit on hilltops to guide ships. Later, towers were built to raise the light higher.")),
    ("Harbourmaster", 877, "Fixed grammar in lead", False,
     lambda t: t.replace("It serves as a navigational aid for maritime pilots", "It serves as a navigational aid to maritime pilots")),
]

HOPPER_0 = """'''Grace Brewster Hopper''' (December 9, 1906 – January 1, 1992) was an American computer scientist and [[United States Navy]] rear admiral.

She was a pioneer of computer programming. She invented one of the first linkers.
"""

HOPPER_EDITS = [
    ("Compilerfan", 5120, "expand career", False,
     lambda t: t + "\n== Career ==\nHopper worked on the [[Harvard Mark I]] during [[World War II]]. In 1949 she joined the Eckert–Mauchly Computer Corporation, where she developed the [[A-0 System]].\n"),
    ("198.51.100.23", None, "typo", True, lambda t: t.replace("Corporation", "Corporaton")),
    ("Compilerfan", 5120, "fix spelling", True, lambda t: t.replace("Corporaton", "Corporation")),
    ("Navyhistorian", 6002, "add COBOL and cite", False,
     lambda t: t.replace("developed the [[A-0 System]].", "developed the [[A-0 System]]. Her work led to [[COBOL]], one of the first high-level programming languages.<ref name=\"beyer\">{{cite book |last=Beyer |first=Kurt |title=Grace Hopper and the Invention of the Information Age |year=2009}}</ref>")
     + "\n== References ==\n{{reflist}}\n"),
    ("Navyhistorian", 6002, "/* Career */ rephrase", False,
     lambda t: t.replace("She was a pioneer of computer programming. She invented one of the first linkers.",
                         "She was a pioneer of computer programming who invented one of the first linkers.")),
    ("Wordsmith", 7007, "simplify lead", False,
     lambda t: t.replace("was an American computer scientist and [[United States Navy]] rear admiral.",
                         "was an American computer scientist and a rear admiral in the [[United States Navy]].")),
    ("Compilerfan", 5120, "add legacy section", False,
     lambda t: t.replace("\n== References ==", "\n== Legacy ==\nThe destroyer USS ''Hopper'' was named after her. She popularised the term \"debugging\" after a moth was found in the Mark II.\n\n== References ==")),
    ("AnomieBOT", 9100, "Dating maintenance tags: {{Citation needed}}", True,
     lambda t: t.replace("was found in the Mark II.", "was found in the Mark II.{{Citation needed|date=March 2024}}")),
]

TALK_0 = """== Lead image ==
Should the lead image show a modern or a historic lighthouse? ~~~~
"""

TALK_EDITS = [
    ("Lampwick", 3310, "/* Lead image */ reply", False,
     lambda t: t + ":I would prefer a historic one, such as the Tower of Hercules. ~~~~\n"),
    ("Seawatcher", 1201, "/* Lead image */ agree", False, lambda t: t + "::Agreed. ~~~~\n"),
]


def build_history(initial, creator, edits, start_ts):
    """Yield (user, user_id, comment, minor, text, timestamp) for each revision."""
    texts = [initial]
    revs = [(creator[0], creator[1], creator[2], False, initial, start_ts)]
    ts = start_ts
    for i, (user, uid, comment, minor, fn) in enumerate(edits):
        ts += 86400 * (3 + 7 * (i % 4)) + 3600 * i
        text = texts[-2] if fn is None else fn(texts[-1])  # fn None = revert to the version before last
        texts.append(text)
        revs.append((user, uid, comment, minor, text, ts))
    return revs


def render(pages) -> str:
    out = ['<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" '
           'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
           'xsi:schemaLocation="http://www.mediawiki.org/xml/export-0.11/ http://www.mediawiki.org/xml/export-0.11.xsd" '
           'version="0.11" xml:lang="en">',
           "  <siteinfo>", "    <sitename>Samplewiki</sitename>", "    <dbname>samplewiki</dbname>",
           "    <base>https://sample.example.org/wiki/Main_Page</base>", "    <generator>revmine sample</generator>",
           "    <case>first-letter</case>", "    <namespaces>",
           '      <namespace key="0" case="first-letter" />', '      <namespace key="1" case="first-letter">Talk</namespace>',
           '      <namespace key="2" case="first-letter">User</namespace>',
           '      <namespace key="14" case="first-letter">Category</namespace>', "    </namespaces>", "  </siteinfo>"]
    rev_id = 1000
    import datetime as dt
    for title, ns, page_id, revs in pages:
        out += ["  <page>", f"    <title>{escape(title)}</title>", f"    <ns>{ns}</ns>", f"    <id>{page_id}</id>"]
        parent = None
        for user, uid, comment, minor, text, ts in revs:
            rev_id += 7
            when = dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            out += ["    <revision>", f"      <id>{rev_id}</id>"]
            if parent:
                out.append(f"      <parentid>{parent}</parentid>")
            out.append(f"      <timestamp>{when}</timestamp>")
            if uid is None:
                out += ["      <contributor>", f"        <ip>{user}</ip>", "      </contributor>"]
            else:
                out += ["      <contributor>", f"        <username>{escape(user)}</username>", f"        <id>{uid}</id>",
                        "      </contributor>"]
            if minor:
                out.append("      <minor />")
            if comment is None:
                out.append('      <comment deleted="deleted" />')
            elif comment:
                out.append(f"      <comment>{escape(comment)}</comment>")
            sha = sha1_base36(text)
            out += ["      <model>wikitext</model>", "      <format>text/x-wiki</format>",
                    f'      <text bytes="{len(text.encode())}" sha1="{sha}" xml:space="preserve">{escape(text)}</text>',
                    f"      <sha1>{sha}</sha1>", "    </revision>"]
            parent = rev_id
        out.append("  </page>")
    out.append("</mediawiki>")
    return "\n".join(out) + "\n"


def main() -> None:
    pages = [
        ("Lighthouse", 0, 101, build_history(LIGHTHOUSE_0, ("Seawatcher", 1201, "Created page with a short definition"),
                                              LIGHTHOUSE_EDITS, 1104537600)),
        ("Grace Hopper", 0, 102, build_history(HOPPER_0, ("Compilerfan", 5120, "New article"), HOPPER_EDITS, 1262304000)),
        ("Talk:Lighthouse", 1, 103, build_history(TALK_0, ("Seawatcher", 1201, "/* Lead image */ new section"),
                                                   TALK_EDITS, 1293840000)),
    ]
    path = os.path.join(HERE, "samplewiki-history.xml")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(render(pages))
    print(path)


if __name__ == "__main__":
    main()
