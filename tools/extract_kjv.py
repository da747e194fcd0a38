"""Writes examples/data/kjv.txt, char_gpt's training text: the first seven books of the King
James Bible (Genesis to Judges, about 1 MB), from Debian's bible-kjv package (its `bible`
program reads /usr/lib/bible.data of bible-kjv-text). The text is in the public domain (the
translation is of 1611; see /usr/share/doc/bible-kjv-text/copyright).

Each chapter starts with its title line ("Genesis 1"); each verse is one line, its number
dropped; a blank line ends a chapter.

Run: apt-get install bible-kjv && python3 tools/extract_kjv.py
"""
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "examples", "data", "kjv.txt")

# (the `bible` program's book abbreviation, the number of chapters)
BOOKS = [("gen", 50), ("exo", 40), ("lev", 27), ("num", 36), ("deu", 34), ("jos", 24), ("jdg", 21)]


def chapter(book, number):
    raw = subprocess.run(["bible", f"{book}{number}:1-{book}{number}:200"], check=True,
                         capture_output=True, text=True).stdout
    title, verses = None, []
    for line in raw.splitlines():
        if not line.strip():
            continue
        m = re.match(r"^\s+(\d+) (.*)$", line)
        if m:
            verses.append(m.group(2).strip())
        elif title is None:
            title = line.strip()
        else:  # a verse wrapped onto the next line
            verses[-1] += " " + line.strip()
    assert title and verses, (book, number)
    return title, verses


def main():
    with open(OUT, "w", encoding="ascii") as f:
        for book, chapters in BOOKS:
            for number in range(1, chapters + 1):
                title, verses = chapter(book, number)
                f.write(title + "\n" + "\n".join(verses) + "\n\n")
    print(f"wrote {OUT}: {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
