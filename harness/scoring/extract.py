"""Read the chosen option letter(s) out of a model's free-text answer.

Generation-scored multiple choice lives or dies by this step. Explicit phrasings are tried first,
from most to least specific ("答案是B", "正确答案：B", "选B", "the answer is (B)", "[正确答案]B<eoa>"),
taking the *last* one so that a chain of thought ending in its conclusion is read at the conclusion.
Then a bare letter answer ("B", "B.", "(B)", "A、C"), then an option's own text, then a lone letter
standing apart from Latin words. Latin words never yield letters: "Let's think step by step" is not
"L", and "A patient..." is not "A". When nothing reliable is found the answer is None, and the
caller counts it against the extraction rate instead of guessing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_THINK = re.compile(r"<think>.*?</think>", re.S)


def _patterns(cls: str) -> list[re.Pattern[str]]:
    run = rf"[{cls}](?:\s*[、,，和与及或/&]?\s*(?:and\s+)?[{cls}])*"
    after = r"(?![A-Za-z])"
    return [
        re.compile(rf"\[正确答案\]\s*({run}){after}"),
        re.compile(
            rf"(?:正确)?(?:答案|选项|答)\s*(?:应该|应当|应|就)?\s*(?:是|为|选|选择)?\s*[:：]?\s*(?:选项)?\s*[\(（\[【]?\s*({run}){after}"
        ),
        re.compile(rf"(?:应该|应当|应|可以|只能)?(?:选择|选)\s*(?:项|择)?\s*[:：]?\s*[\(（\[【]?\s*({run}){after}"),
        re.compile(rf"[\(（\[【]?\s*({run})\s*[\)）\]】]?\s*(?:项|选项)?\s*(?:是|为)?\s*(?:正确|对)的?(?:答案|选项)?"),
        re.compile(
            rf"(?i:answer|option|choice)(?i:\s+is|\s+would\s+be|\s+should\s+be|s\s+are)?\s*[:：]?\s*(?i:option\s+)?[\(\[]?\s*({run}){after}"
        ),
    ]


def _letters_in(run: str, letters: Sequence[str]) -> str:
    found = {ch for ch in run if ch in letters}
    return "".join(x for x in letters if x in found)


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith(("P", "Z", "S")))


def extract_choice(
    text: str | None,
    letters: Sequence[str] = ("A", "B", "C", "D"),
    options: dict[str, str] | None = None,
    multi: bool = False,
) -> str | None:
    """The chosen letters in `letters` order ("B", or "AC" when several), or None when no answer is found.

    With `multi=False` a reply naming several letters still returns them all (and so scores wrong)
    rather than silently picking one.
    """
    if not text:
        return None
    text = unicodedata.normalize("NFKC", _THINK.sub("", text)).strip()
    if not text:
        return None
    cls = "".join(re.escape(x) for x in letters)
    for pattern in _patterns(cls):
        matches = list(pattern.finditer(text))
        if matches:
            return _letters_in(matches[-1].group(1), letters)
    whole = re.fullmatch(rf"[\(（\[【]?\s*([{cls}](?:\s*[、,，/&\s]\s*[{cls}])*|[{cls}]+)\s*[\)）\]】]?\s*[.。:：]?", text)
    if whole:
        return _letters_in(whole.group(1), letters)
    lead = re.match(rf"[\(（\[【]?([{cls}])(?:[\)）\]】]|[.。:：、]|\s*$|(?=[^\x00-\x7f]))", text)
    if lead:
        return lead.group(1)
    if options:
        hits = [letter for letter, body in options.items() if len(_norm(body)) >= 2 and _norm(body) in _norm(text)]
        # drop an option whose text is only a part of another one that was found
        hits = [h for h in hits if not any(h != o and _norm(options[h]) in _norm(options[o]) for o in hits)]
        if hits and (multi or len(hits) == 1):
            return _letters_in("".join(hits), letters)
    lone = {m.group(1) for m in re.finditer(rf"(?<![A-Za-z'’])([{cls}])(?![A-Za-z'’])(?!\s+[a-z])", text)}
    if len(lone) == 1 or (multi and lone):
        return _letters_in("".join(lone), letters)
    return None
