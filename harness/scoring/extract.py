"""Read the chosen option letter(s) out of a model's free-text answer.

Generation-scored multiple choice lives or dies by this step. Chat models discuss every option before
they conclude ("选项A说法错误；选项B说法正确…故选B", "Option D is wrong… The answer is (B)"), so the
evidence is read in tiers, and the first tier that yields an answer decides:

1. explicit final-answer statements: 答案是/答案为/正确答案：/故选/所以选/综上/应选/我选, "the answer is",
   "Answer:", "the correct option is", "I'd choose", \\boxed{B}, LawBench's "[正确答案]B<eoa>". The *last*
   one wins, so a chain of thought is read at its conclusion;
2. assertions that an option is right: "B是正确的", "选项B说法正确", "A和C都正确", "B is correct";
3. a bare answer: the whole reply is "B", "(B)", "**B**", "B. 糖尿病", or starts with one ("B。因为…");
4. an option's own text ("最可能的诊断是糖尿病");
5. a lone letter standing apart from Latin words ("HbA1c" is not "A", "A patient" is not "A").

In every tier a letter that is negated where it stands never counts: "选项D不对/错误/不正确", "排除D",
"不是D", "D is wrong/incorrect", "not D". Reasoning in <think>…</think> is skipped (an unfinished
<think> block has no answer). When nothing reliable is found the answer is None, and the caller counts it
against the extraction rate instead of guessing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_THINK = re.compile(r"<think>.*?</think>", re.S)
_EMPHASIS = re.compile(r"\*{1,3}|_{2,3}|`")
# a negation right after a letter ("D不对", "D项说法错误", "D is wrong") or right before it ("排除D", "not D")
_NEG_AFTER = re.compile(
    r"\s*(?:项|选项)?\s*(?:的)?\s*(?:说法|表述|叙述|描述|观点|内容|答案)?\s*(?:也|都|均|亦|明显|显然)?\s*(?:是)?\s*"
    r"(?:不对|错误|错|不正确|有误|不符|不准确|不恰当|不合适|不能选|不选|排除|可排除|是错|不是|并非|不成立|"
    r"(?i:is\s+(?:wrong|incorrect|false|not|also\s+(?:wrong|incorrect))|are\s+(?:wrong|incorrect|not)|can\s+be\s+ruled|"
    r"is\s+ruled|doesn'?t|does\s+not|isn'?t|aren'?t))"
)
_NEG_BEFORE = re.compile(
    r"(?:排除|排除了|不选|不是|并非|而非|而不是|除了|非|误选|错选|(?i:not|rule\s+out|ruled\s+out|eliminate|exclude|except|"
    r"rather\s+than|instead\s+of))\s*(?:选项|option|choice)?\s*[(\[（【]?\s*$"
)


def _run(cls: str) -> str:
    """One letter or several joined by 、,/和与及或 and/or (not across lines)."""
    sep = r"[^\S\n]*(?:[、,，/&+]|和|与|及|或|以及|(?i:and|or))?[^\S\n]*"
    return rf"[{cls}](?:{sep}[{cls}])*"


def _final_patterns(cls: str) -> list[re.Pattern[str]]:
    run, end = _run(cls), r"(?![A-Za-z])"
    open_ = r"[^\S\n]*[(\[（【]?[^\S\n]*"
    return [
        re.compile(rf"\[正确答案\]\s*({run}){end}"),
        re.compile(rf"\\boxed\{{\s*(?:\\text\{{\s*)?({run}){end}"),
        re.compile(rf"(?:正确|最终|最后|参考|标准)?答案\s*(?:应该|应当|应|就|可能|肯定|显然)?\s*(?:是|为|选|选择)?\s*[:：]?"
                   rf"\s*(?:选项|选)?{open_}({run}){end}"),
        re.compile(rf"(?<![解回])答\s*[:：]{open_}({run}){end}"),
        re.compile(rf"(?:正确|最佳|合适|恰当|符合题意)的?(?:选项|选择|一项|答案)\s*(?:应该|应当|应)?\s*(?:是|为)\s*[:：]?\s*"
                   rf"(?:选项)?{open_}({run}){end}"),
        re.compile(rf"(?:选择|选)\s*[:：]?\s*(?:选项)?{open_}({run}){end}"),
        re.compile(rf"综上(?:所述)?\s*[,，:：]?{open_}({run}){end}"),
        re.compile(rf"(?i:answers?)(?i:\s+is|\s+are|\s+would\s+be|\s+should\s+be|\s+must\s+be|\s+will\s+be)?\s*[:：]?\s*"
                   rf"(?i:option|choice)?{open_}({run}){end}(?!\s+(?i:is|are)\s+(?:wrong|incorrect))"),
        re.compile(rf"(?i:correct|right|best|final)\s+(?i:option|choice|one)\s+(?i:is|would\s+be)\s*[:：]?\s*"
                   rf"(?i:option)?{open_}({run}){end}"),
        re.compile(rf"(?i:I\s+(?:would\s+|will\s+)?(?:choose|pick|select|go\s+with)|I'd\s+(?:choose|pick|go\s+with))\s+"
                   rf"(?i:option\s+)?{open_}({run}){end}"),
    ]


def _assert_patterns(cls: str) -> list[re.Pattern[str]]:
    run, end = _run(cls), r"(?![A-Za-z])"
    return [
        re.compile(rf"({run}){end}[)）\]】]?\s*(?:项|选项)?\s*(?:的)?\s*(?:说法|表述|叙述|描述|观点|内容)?\s*(?:都|均|也)?\s*(?:是)?\s*"
                   rf"(?:正确|对(?=[的。，,.;；!！\s]|$))(?!与否)"),
        re.compile(rf"({run}){end}[)）\]]?\s+(?i:is|are)\s+(?i:the\s+)?(?i:correct|right|true|best\s+(?:answer|option|choice))"
                   rf"(?![A-Za-z])"),
    ]


def _negated(text: str, start: int, end: int) -> bool:
    return bool(_NEG_AFTER.match(text, end) or _NEG_BEFORE.search(text[max(0, start - 14):start]))


def _kept(text: str, m: re.Match[str], letters: Sequence[str]) -> str | None:
    """The matched letters that are not negated: "答案是B，D项错误" keeps B; "排除A" keeps nothing."""
    start = m.start(1)
    if _NEG_BEFORE.search(text[max(0, start - 14):start]):
        return None
    ends = [start + i + 1 for i, ch in enumerate(m.group(1)) if ch in letters]
    for end in reversed(ends):
        if not _NEG_AFTER.match(text, end):
            return _letters_in(text[start:end], letters)
    return None


def _letters_in(run: str, letters: Sequence[str]) -> str:
    found = {ch for ch in run if ch in letters}
    return "".join(x for x in letters if x in found)


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith(("P", "Z", "S")))


def _clean(text: str) -> str:
    """Drop reasoning and markdown emphasis; full-width letters and punctuation become ASCII (NFKC)."""
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    elif "<think>" in text:
        text = text.split("<think>", 1)[0]
    text = _THINK.sub("", text)
    return _EMPHASIS.sub("", unicodedata.normalize("NFKC", text)).strip()


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
    text = _clean(text or "")
    if not text:
        return None
    cls = "".join(re.escape(x) for x in letters)
    final = [(m.start(1), kept) for p in _final_patterns(cls) for m in p.finditer(text)
             if (kept := _kept(text, m, letters))]
    if final:
        return max(final)[1]  # the last statement: a chain of thought is read at its conclusion
    said = [kept for p in _assert_patterns(cls) for m in p.finditer(text) if (kept := _kept(text, m, letters))]
    if said:
        return _letters_in("".join(said), letters)
    bare = _bare(text, cls, letters)
    if bare:
        return bare
    if options:
        by_text = _by_option_text(text, options, letters, multi)
        if by_text:
            return by_text
    lone = {m.group(1) for m in re.finditer(rf"(?<![A-Za-z'’])([{cls}])(?![A-Za-z'’])(?!\s+[a-z0-9])", text)
            if not _negated(text, m.start(1), m.end(1))}
    if len(lone) == 1 or (multi and lone):
        return _letters_in("".join(lone), letters)
    return None


def _bare(text: str, cls: str, letters: Sequence[str]) -> str | None:
    """The whole reply is a letter answer ("B", "(B)", "A、C", "B. 糖尿病"), or starts with one ("B。因为…")."""
    whole = re.fullmatch(rf"[(\[（【]?\s*([{cls}](?:\s*[、,，/&\s]\s*[{cls}])*|[{cls}]+)\s*[)）\]】]?\s*[.。:：]?", text)
    if whole:
        return _letters_in(whole.group(1), letters)
    # a reply that lists the options ("A. …\nB. …") is not an answer that starts with A
    if len({m.group(1) for m in re.finditer(rf"(?m)^\s*[(\[（【]?([{cls}])[)）\]】.。:：、]", text)}) > 1:
        return None
    lead = re.match(rf"[(\[（【]?([{cls}])(?:[)）\]】]|[.。:：、]|\s*$|(?=[^\x00-\x7f]))", text)
    if lead and not _negated(text, lead.start(1), lead.end(1)) and not _NEG_AFTER.match(text, lead.end()):
        return lead.group(1)
    return None


def _by_option_text(text: str, options: dict[str, str], letters: Sequence[str], multi: bool) -> str | None:
    """Options whose text the reply names, where it is not negated ("不是高血压，而是糖尿病" -> 糖尿病)."""
    flat = _norm(text)
    hits = []
    for letter, body in options.items():
        key = _norm(body)
        if len(key) < 2:
            continue
        spots = [m.start() for m in re.finditer(re.escape(key), flat)]
        if any(not _negated(flat, s, s + len(key)) for s in spots):
            hits.append(letter)
    # drop an option whose text is only a part of another one that was found
    hits = [h for h in hits if not any(h != o and _norm(options[h]) in _norm(options[o]) for o in hits)]
    if hits and (multi or len(hits) == 1):
        return _letters_in("".join(hits), letters)
    return None
