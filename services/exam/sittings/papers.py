"""组卷: a candidate's paper drawn from the plan's blueprint over the eligible questions, reproducible from the
paper's seed (pure: the service feeds it the bank in one query and stores what it returns).

For each blueprint line (category × type × count × points) the eligible questions of that category and type
are ranked with ``services.common.draw.rank(seed, f"paper\\x00{category}\\x00{type}", ids)``; the questions
the person had in any earlier paper come after all the others, so a retake repeats none while the bank has
enough, and the fewest when it has not. Each question's options are shown in the order
``rank(seed, f"options\\x00{question_id}", keys)`` and relabelled A, B, C… in that order: the paper keeps, for
each question, the original keys in the order shown, so an answer given in shown labels maps back to the
version's own keys (scoring and any regrade use those).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.common.draw import rank

LABELS = "ABCDEFGH"  # shown labels, in shown order


@dataclass(frozen=True)
class BankQuestion:
    """What the draw needs of an eligible question (its current version)."""

    question_id: str
    version: int
    category: str
    type: str
    option_keys: tuple[str, ...] = ()  # in the version's own order; () for true/false (or not read)
    product_categories: tuple[str, ...] = ()  # () = every field


@dataclass(frozen=True)
class PaperQuestion:
    """One question of a drawn paper: ``options`` are the original keys in the order shown (A, B, … in turn)."""

    position: int  # 题号, from 1
    question_id: str
    version: int
    category: str
    type: str
    points: float
    options: tuple[str, ...]
    repeated: bool  # the person had it in an earlier paper (the bank had too few others)

    def as_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "question_id": self.question_id,
            "version": self.version,
            "category": self.category,
            "type": self.type,
            "points": self.points,
            "options": list(self.options),
            "repeated": self.repeated,
        }


class BankTooSmall(ValueError):
    """The bank holds fewer eligible questions of a category and type than the blueprint asks for."""

    def __init__(self, category: str, type: str, needed: int, available: int) -> None:
        super().__init__(f"{category}/{type}: {needed} needed, {available} eligible")
        self.category, self.type, self.needed, self.available = category, type, needed, available


def applies(question_categories: Iterable[str], unit_categories: Iterable[str]) -> bool:
    """A question for every field ([]), or for a field the unit works in."""
    fields = set(question_categories)
    return not fields or not fields.isdisjoint(unit_categories)


def shuffled_options(seed: str, question_id: str, keys: Sequence[str]) -> tuple[str, ...]:
    return tuple(rank(seed, f"options\x00{question_id}", keys)) if keys else ()


@dataclass(frozen=True)
class Chosen:
    question: BankQuestion
    points: float
    repeated: bool


def choose(
    seed: str,
    blueprint: Sequence[Mapping[str, Any]],
    bank: Iterable[BankQuestion],
    *,
    unit_categories: Iterable[str] = (),
    previous: Iterable[str] = (),
) -> list[Chosen]:
    """The paper's questions in order: the blueprint's lines in turn, each line's in draw order. ``bank`` is
    every active question the person's role and kind and the organiser may use; those for fields the unit
    does not work in are left out here. ``previous``: question ids of the person's earlier papers. Raises
    BankTooSmall."""
    unit_fields = set(unit_categories)
    seen = set(previous)
    groups: dict[tuple[str, str], list[BankQuestion]] = {
        (line["category"], line["type"]): [] for line in blueprint
    }
    for question in bank:  # the hot loop of a draw (10,000 questions): no call for the common case
        members = groups.get((question.category, question.type))
        if members is not None and (
            not question.product_categories or not unit_fields.isdisjoint(question.product_categories)
        ):
            members.append(question)
    needed: dict[tuple[str, str], int] = {}
    for line in blueprint:
        group = (line["category"], line["type"])
        needed[group] = needed.get(group, 0) + int(line["count"])
    ranked: dict[tuple[str, str], list[BankQuestion]] = {}
    for group, count in needed.items():
        members = groups[group]
        if len(members) < count:
            raise BankTooSmall(group[0], group[1], count, len(members))
        by_id = {q.question_id: q for q in members}
        order = rank(seed, f"paper\x00{group[0]}\x00{group[1]}", by_id)
        fresh = [by_id[i] for i in order if i not in seen]
        if len(fresh) < count:
            fresh += [by_id[i] for i in order if i in seen]
        ranked[group] = fresh[:count]
    chosen: list[Chosen] = []
    taken = dict.fromkeys(ranked, 0)
    for line in blueprint:
        group = (line["category"], line["type"])
        start = taken[group]
        taken[group] = start + int(line["count"])
        chosen += [
            Chosen(q, float(line["points"]), q.question_id in seen)
            for q in ranked[group][start : taken[group]]
        ]
    return chosen


def assemble(
    seed: str, chosen: Sequence[Chosen], option_keys: Mapping[str, Sequence[str]] | None = None
) -> list[PaperQuestion]:
    """The paper: each chosen question numbered, its options shuffled. ``option_keys``: the chosen versions'
    keys when the bank was read without them (the service reads the options of the chosen questions only)."""
    paper = []
    for position, c in enumerate(chosen, start=1):
        q = c.question
        keys = option_keys[q.question_id] if option_keys is not None else q.option_keys
        paper.append(
            PaperQuestion(
                position=position,
                question_id=q.question_id,
                version=q.version,
                category=q.category,
                type=q.type,
                points=c.points,
                options=shuffled_options(seed, q.question_id, keys if q.type != "true_false" else ()),
                repeated=c.repeated,
            )
        )
    return paper


def draw_paper(
    seed: str,
    blueprint: Sequence[Mapping[str, Any]],
    bank: Iterable[BankQuestion],
    *,
    unit_categories: Iterable[str] = (),
    previous: Iterable[str] = (),
) -> list[PaperQuestion]:
    """``choose`` then ``assemble``, with the options' keys from ``bank``."""
    return assemble(seed, choose(seed, blueprint, bank, unit_categories=unit_categories, previous=previous))


def max_score(paper: Iterable[PaperQuestion]) -> float:
    return round(sum(q.points for q in paper), 4)


# ------------------------------------------------------------------------------ shown labels ↔ original keys


def to_original(options: Sequence[str], question_type: str, shown: Sequence[str]) -> list[str]:
    """An answer in shown labels (A = the first option shown) as the version's keys; true/false unchanged.
    The caller has validated ``shown`` (``rules.check_answer``)."""
    if question_type == "true_false":
        return list(shown)
    keys = [options[LABELS.index(label)] for label in shown]
    return sorted(keys, key=options.index)


def to_shown(options: Sequence[str], question_type: str, original: Sequence[str]) -> list[str]:
    """The version's keys as the labels the person saw, in shown order."""
    if question_type == "true_false":
        return list(original)
    return sorted((LABELS[options.index(key)] for key in original if key in options), key=LABELS.index)
