"""Release gate: synthetic data leaves the secure environment only when its privacy verdict passes.

`release` evaluates the synthetic table against TRAIN and HOLDOUT under the active policy. When the privacy
verdict is PASS it writes the data, the report, the model card and (optionally) the generator; otherwise it
writes the report alone and says which checks failed. Everything is written into a hidden folder beside the
destination, then renamed into place in one step, so a crash never leaves a partial release.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console

from synthmed.data.database import DatabaseDestination, DatabaseTable
from synthmed.data.files import check_new_folder
from synthmed.data.histories import Histories, read_events
from synthmed.data.history_rare import rare_values
from synthmed.data.io import PLAIN_READING, ReadOptions, is_table_source
from synthmed.data.rare import rare_categories
from synthmed.data.schema import ColumnKind, ColumnSchema, Schema, json_scalar
from synthmed.errors import ConfigError, OutputError, SynthmedError
from synthmed.evaluate.evaluation import evaluate, membership_undecided, with_shadow_models
from synthmed.evaluate.history_evaluation import judge_histories, read_compared
from synthmed.evaluate.policy import Check, Policy, Verdict, worst
from synthmed.models.artifact import read_artifact
from synthmed.models.base import Synthesizer
from synthmed.report import write_report
from synthmed.report.card import card_markdown, model_card
from synthmed.workflows.history_shadow import history_game
from synthmed.workflows.shadow import SHADOW_MODELS, Recipe, check_shadow_models, recipe_of, shadow_game
from synthmed.workflows.training import describe_selection, fit

SYNTHETIC_FILE = "synthetic.csv"
REPORT_FILE = "report.html"
EVALUATION_FILE = "evaluation.json"
CARD_FILES = ("MODEL_CARD.md", "model_card.json")
GENERATOR_FILE = "generator.smg"


# Rounds of replacing rows in classes smaller than k before the rest of them are dropped.
K_ANONYMITY_ROUNDS = 10


@dataclass(frozen=True)
class ReleaseOutcome:
    """Whether the data was released, where, and the privacy checks that stood in the way."""

    released: bool
    folder: Path
    privacy_verdict: Verdict
    blocking: tuple[Check, ...]
    replaced: int = 0  # rows replaced (or dropped) to make the release k-anonymous
    dropped: int = 0


def _small_classes(table: pd.DataFrame, quasi_identifiers: list[str], k: int) -> pd.Series:
    classes = table.groupby(quasi_identifiers, dropna=False, sort=False).ngroup()
    return classes.map(classes.value_counts()) < k


def make_k_anonymous(
    synthetic: pd.DataFrame, quasi_identifiers: list[str], k: int, generate: Callable[[int, int], pd.DataFrame] | None
) -> tuple[pd.DataFrame, int, int]:
    """`synthetic` with every class on the quasi-identifiers holding at least k rows, and the rows replaced/dropped.

    Rows in smaller classes are replaced by newly generated ones (`generate(rows, round)`); a new row that
    lands in a small class is replaced again, for up to 10 rounds, and what is still in one is dropped.
    """
    unknown = [name for name in quasi_identifiers if name not in synthetic.columns]
    if unknown or not quasi_identifiers or k < 1:
        raise ConfigError(
            "k-anonymity needs k >= 1 and quasi-identifiers among the synthetic columns",
            values=unknown or [k],
            remedy=f"choose among: {', '.join(map(str, synthetic.columns))}",
        )
    table, fresh = synthetic.reset_index(drop=True), pd.Series(False, index=range(len(synthetic)))
    for round_ in range(K_ANONYMITY_ROUNDS if generate is not None else 0):
        small = _small_classes(table, quasi_identifiers, k)
        if not small.any():
            break
        new = generate(int(small.sum()), round_)[synthetic.columns]
        table = pd.concat([table[~small.to_numpy()], new], ignore_index=True)
        fresh = pd.concat([fresh[~small.to_numpy()], pd.Series(True, index=range(len(new)))], ignore_index=True)
    keep = ~_small_classes(table, quasi_identifiers, k).to_numpy()
    released = table[keep].reset_index(drop=True)
    return released, int(fresh[keep].sum()), len(synthetic) - len(released)


def release(
    synthetic: pd.DataFrame,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    output: str | os.PathLike[str],
    *,
    generator: Path | None = None,
    include_generator: bool = False,
    target: str | None = None,
    schema: Schema | None = None,
    policy: Policy | None = None,
    seed: int = 0,
    k_anonymity: tuple[list[str], int] | None = None,
    generate: Callable[[int, int], pd.DataFrame] | None = None,
    recipe: Recipe | None = None,
    shadow_models: int = SHADOW_MODELS,
    progress: bool = False,
    output_table: DatabaseDestination | None = None,
) -> ReleaseOutcome:
    """Judge `synthetic` and write the release folder `output` (which must not exist yet).

    With `k_anonymity` (quasi-identifiers, k) the synthetic table is first made k-anonymous on those columns
    (`make_k_anonymous`, replacing rows with `generate(rows, round)` when given); the card counts the rows.
    With the `recipe` that made the generator, a holdout too small to decide membership is settled by the
    shadow-model game over `shadow_models` generators (workflows/shadow.py; 0 skips it). With `output_table`, a
    released table is also written into that database table (in one transaction, before the folder appears).
    """
    folder = check_new_folder(output)
    check_shadow_models(shadow_models)
    if output_table is not None:
        output_table.check()
    if include_generator and generator is None:
        raise ConfigError("there is no generator to include", remedy="release from a generator (.smg) file")
    replaced = dropped = 0
    if k_anonymity is not None:
        synthetic, replaced, dropped = make_k_anonymous(synthetic, *k_anonymity, generate)
    evaluation = evaluate(train, holdout, synthetic, target=target, schema=schema, policy=policy, seed=seed)
    if recipe is not None and shadow_models and membership_undecided(evaluation):
        Console(stderr=True, quiet=not progress).print(
            f"the holdout is too small to decide membership: training {shadow_models} shadow models"
        )
        game = shadow_game(recipe, train, holdout, schema=schema, models=shadow_models, seed=seed, progress=progress)
        evaluation = with_shadow_models(evaluation, game, policy)
    document = evaluation.to_dict()
    checks = list(evaluation.privacy.checks)
    if include_generator and generator is not None:
        min_count = int((policy or Policy()).privacy.rare_category_min_count)
        checks.append(generator_rare_check(read_artifact(generator)[0], train, min_count))
        document["privacy"]["checks"].append(checks[-1].to_dict())
    made = None
    if k_anonymity is not None:
        names, k = k_anonymity
        made = {"k": k, "quasi_identifiers": names, "replaced": replaced, "dropped": dropped}
    contents = _Release(synthetic, train, generator, include_generator, made, output_table)
    released, verdict, blocking = _gate_and_write(folder, document, checks, contents)
    return ReleaseOutcome(released, folder, verdict, blocking, replaced, dropped)


def _gate_and_write(
    folder: Path, document: dict[str, Any], checks: list[Check], contents: _Release
) -> tuple[bool, Verdict, tuple[Check, ...]]:
    """The privacy verdict over `checks` (recorded in `document`), and the folder: `contents` only on PASS, the
    report and evaluation always. Returns whether it was released, the verdict and what stood in the way."""
    verdict = worst([check.verdict for check in checks])
    document["privacy"]["verdict"] = verdict.value
    released = verdict is Verdict.PASS
    _write(folder, document, contents if released else None)
    blocking = () if released else tuple(check for check in checks if check.verdict is not Verdict.PASS)
    return released, verdict, blocking


@dataclass(frozen=True)
class _Release:
    """What a released folder holds beside the report: the data, the card's sources and the generator."""

    synthetic: pd.DataFrame
    train: pd.DataFrame
    generator: Path | None
    include_generator: bool
    k_anonymity: dict[str, Any] | None = None
    output_table: DatabaseDestination | None = None


def _write(folder: Path, document: dict[str, Any], released: _Release | None) -> None:
    """The report and evaluation, and with `released` the data, the model card and the generator, written into a
    hidden folder beside `folder` and renamed into place in one step."""
    staging = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.partial-", dir=folder.parent))
        write_report(document, staging / REPORT_FILE, title="synthmed release")
        (staging / EVALUATION_FILE).write_text(json.dumps(document, indent=2, allow_nan=False))
        if released is not None:
            released.synthetic.to_csv(staging / SYNTHETIC_FILE, index=False)
            meta = read_artifact(released.generator)[0] if released.generator is not None else None
            card = model_card(document, released.train, len(released.synthetic), meta, released.k_anonymity)
            (staging / CARD_FILES[0]).write_text(card_markdown(card))
            (staging / CARD_FILES[1]).write_text(json.dumps(card, indent=2, allow_nan=False))
            if released.include_generator and released.generator is not None:
                shutil.copyfile(released.generator, staging / GENERATOR_FILE)
            if released.output_table is not None:
                released.output_table.write(released.synthetic)
        os.rename(staging, folder)  # one step: the folder appears whole or not at all
    except OSError as error:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        raise OutputError(
            f"could not write the release {str(folder)!r}: {error.strerror or error}",
            remedy="free disk space or choose a writable location, then run the release again",
        ) from None
    except BaseException:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        raise


def release_histories(
    model: Synthesizer,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    output: str | os.PathLike[str],
    *,
    generator: Path,
    patients: int | None = None,
    include_generator: bool = False,
    target: str | None = None,
    policy: Policy | None = None,
    seed: int = 0,
    output_table: DatabaseDestination | None = None,
    shadow_models: int = SHADOW_MODELS,
    progress: bool = False,
) -> ReleaseOutcome:
    """Sample `patients` histories (default: as many as TRAIN has) from a history model saved in `generator`, judge
    them patient by patient against TRAIN and HOLDOUT (long tables in the generator's layout) and write the release
    folder as `release` does. A holdout too small to decide membership is settled by the shadow-model game over
    `shadow_models` copies of the model (workflows/history_shadow.py; 0 skips it). A generator to include must list
    no code or category fewer than k TRAIN patients hold (`history_generator_check`)."""
    folder = check_new_folder(output)
    check_shadow_models(shadow_models)
    if output_table is not None:
        output_table.check()
    roles = model.transformer_.roles_
    count = patients or int(train[roles.patient].nunique())
    synthetic = model.sample(count, seed=seed)
    histories = read_compared(train, holdout, synthetic, roles)
    evaluation = judge_histories(histories, roles, target=target, policy=policy, seed=seed)
    if shadow_models and membership_undecided(evaluation):
        console = Console(stderr=True, quiet=not progress)
        console.print(f"the holdout is too small to decide membership: training {shadow_models} shadow models")
        try:
            game = history_game(
                model, histories["train"], histories["holdout"], models=shadow_models, seed=seed, progress=progress
            )
        except SynthmedError as error:  # e.g. a half too small to learn gaps from: the verdict stays undecided
            console.print(f"the shadow-model game could not be played: {error}")
        else:
            evaluation = with_shadow_models(evaluation, game, policy)
    document = evaluation.to_dict()
    checks = list(evaluation.privacy.checks)
    if include_generator:
        min_patients = int((policy or Policy()).privacy.rare_category_min_count)
        checks.append(history_generator_check(model, histories["train"], min_patients))
        document["privacy"]["checks"].append(checks[-1].to_dict())
    contents = _Release(synthetic, train, generator, include_generator, None, output_table)
    released, verdict, blocking = _gate_and_write(folder, document, checks, contents)
    return ReleaseOutcome(released, folder, verdict, blocking)


def history_generator_check(model: Synthesizer, train: Histories, min_patients: int) -> Check:
    """Whether a history generator to be released lists a code or category fewer than `min_patients` TRAIN patients
    hold (its file would publish it even if no sample shows it)."""
    tokens = model.transformer_
    rare = rare_values(train, min_patients)
    listed: dict[str, set[str]] = {}
    for column, code in tokens.vocabulary_:
        listed.setdefault(column, set()).add(str(code))
    for attribute in [*tokens.static_, *tokens.visit_]:
        if attribute.coding == "category":
            listed.setdefault(attribute.name, set()).update(map(str, attribute.values))
    carried = [column for column, values in rare.items() if values & listed.get(column, set())]
    if carried:
        return Check(
            "rare values in the generator",
            Verdict.FAIL,
            f"the generator's file lists codes or categories of fewer than {min_patients} training patients "
            f"(columns {', '.join(map(repr, carried))}): release without --include-generator, or refit with "
            "--rare-values merge (the default) or suppress",
        )
    return Check(
        "rare values in the generator",
        Verdict.PASS,
        f"the generator lists no code or category of fewer than {min_patients} training patients",
    )


def release_files(
    train: str | Path,
    holdout: str | Path,
    output: str | Path,
    *,
    generator: str | Path | None = None,
    synthetic: str | Path | None = None,
    rows: int | None = None,
    include_generator: bool = False,
    target: str | None = None,
    schema: Schema | str | Path | None = None,
    policy: Policy | str | Path | None = None,
    seed: int = 0,
    k_anonymity: int | None = None,
    quasi_identifiers: list[str] | None = None,
    reading: ReadOptions = PLAIN_READING,
    shadow_models: int = SHADOW_MODELS,
    progress: bool = False,
    output_table: DatabaseDestination | None = None,
) -> ReleaseOutcome:
    """`release` from files: sample `rows` (default: as TRAIN) from a saved `generator`, or vet the table in
    `synthetic`. A generator of patient histories samples `rows` patients (default: as TRAIN has) and is judged
    by `release_histories` (TRAIN and HOLDOUT in its layout; no k-anonymity). With
    `k_anonymity` (k) on `quasi_identifiers`, rows that must be replaced are drawn from the
    generator with other seeds than the release's. A generator's recipe can play the shadow-model game; a
    table alone cannot."""
    if (generator is None) == (synthetic is None):
        raise ConfigError(
            "release needs one source of synthetic data", remedy="give a generator (.smg) or --synthetic FILE"
        )
    if (k_anonymity is None) != (quasi_identifiers is None):
        raise ConfigError("--k-anonymity and --quasi-identifiers go together", remedy="give both, or neither")
    check_new_folder(output)
    check_shadow_models(shadow_models)
    declared = Schema.load(schema) if isinstance(schema, str | Path) else schema
    model = Synthesizer.load(generator) if generator is not None else None
    if model is not None and model.generates() == "histories":
        if k_anonymity is not None or schema is not None:
            raise ConfigError(
                "a release of histories takes no --k-anonymity or --schema: the generator names its columns, and "
                "its rare values are already generalised (--rare-values at fit)",
                remedy="leave them out",
            )
        codes = model.transformer_.roles_.codes
        train_events, holdout_events = (read_events(path, reading, codes) for path in (train, holdout))
        return release_histories(
            model,
            train_events,
            holdout_events,
            output,
            generator=Path(generator),
            patients=rows,
            include_generator=include_generator,
            target=target,
            policy=Policy.load(policy) if isinstance(policy, str | Path) else policy,
            seed=seed,
            output_table=output_table,
            shadow_models=shadow_models,
            progress=progress,
        )
    real = [reading.read(path) for path in (train, holdout)]
    generate = recipe = None
    if model is not None:
        if model.generates() != "table":
            raise ConfigError(
                f"release vets tables and patient histories; {model.name} generates {model.generates()}",
                remedy="judge its samples with synthmed evaluate",
            )

        generate, recipe = _drawing(model, seed), recipe_of(model, declared)
        table = generate(rows or len(real[0]), -1)
    else:
        table = reading.read(synthetic)
    return release(
        table,
        *real,
        output,
        generator=Path(generator) if generator is not None else None,
        include_generator=include_generator,
        target=target,
        schema=declared,
        policy=Policy.load(policy) if isinstance(policy, str | Path) else policy,
        seed=seed,
        k_anonymity=None if k_anonymity is None else (quasi_identifiers, k_anonymity),
        generate=generate,
        recipe=recipe,
        shadow_models=shadow_models,
        progress=progress,
        output_table=output_table,
    )


def _drawing(model: Synthesizer, seed: int) -> Callable[[int, int], pd.DataFrame]:
    """`generate(rows, round)`: the release's rows (round -1) and, for k-anonymity, replacements drawn with
    other seeds than the release's own."""

    def generate(count: int, round_: int) -> pd.DataFrame:
        fresh = model.sample(count, seed=seed + 1 + round_)
        return fresh if isinstance(fresh, pd.DataFrame) else pd.DataFrame(fresh, columns=model.transformer_.columns)

    return generate


def _check_share(share: float) -> None:
    if not 0 < share < 1:
        raise ConfigError("the holdout share must be between 0 and 1", values=[share], remedy="e.g. 0.2")


def split_holdout(
    table: pd.DataFrame, share: float, *, target: str | None = None, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, holdout): a seeded random `share` of the rows held out, in the same proportions of `target`'s
    values when a target is named (stratified), so that both halves hold every outcome."""
    _check_share(share)
    if target is not None and target not in table.columns:
        raise ConfigError("the target is not a column of the table", column=target, remedy="check --target")
    holdout_rows = round(share * len(table))
    if holdout_rows < 1 or holdout_rows >= len(table):
        raise ConfigError(
            f"a holdout share of {share:g} leaves no rows on one side of {len(table)}",
            values=[share],
            remedy="use a larger table or a share between them",
        )
    rng = np.random.default_rng(seed)
    if target is None:
        held = rng.permutation(len(table))[:holdout_rows]
    else:
        groups = table[target].astype("string").fillna("<missing>").to_numpy()
        held = np.concatenate(
            [
                rng.permutation(members)[: round(share * len(members))]
                for members in (np.flatnonzero(groups == value) for value in sorted(set(groups)))
            ]
        )
    chosen = np.zeros(len(table), dtype=bool)
    chosen[held] = True
    return table[~chosen].reset_index(drop=True), table[chosen].reset_index(drop=True)


def release_table(
    data: str | Path | pd.DataFrame | DatabaseTable,
    output: str | Path,
    *,
    target: str | None = None,
    holdout_share: float = 0.2,
    model: str = "auto",
    preset: str | None = None,
    settings: Mapping[str, Any] | None = None,
    rows: int | None = None,
    include_generator: bool = False,
    schema: Schema | str | Path | None = None,
    policy: Policy | str | Path | None = None,
    seed: int = 0,
    k_anonymity: int | None = None,
    quasi_identifiers: list[str] | None = None,
    reading: ReadOptions = PLAIN_READING,
    dp_epsilon: float | None = None,
    dp_delta: float | None = None,
    shadow_models: int = SHADOW_MODELS,
    progress: bool = True,
    output_table: DatabaseDestination | None = None,
) -> ReleaseOutcome:
    """From a raw table to a vetted release in one call: split off a seeded holdout (stratified on `target`),
    fit `model` (auto by default) on the rest, generate as many rows, evaluate, gate, and write the release.

    Nothing but the report is written when the gate refuses; the generator goes into the release only with
    `include_generator`. With `dp_epsilon` (and `dp_delta`) the model trains with differential privacy. A
    holdout too small to decide membership is settled by `shadow_models` generators trained the same way
    (workflows/shadow.py). Each stage is announced on the console when `progress` is on.
    """
    if (k_anonymity is None) != (quasi_identifiers is None):
        raise ConfigError("--k-anonymity and --quasi-identifiers go together", remedy="give both, or neither")
    _check_share(holdout_share)  # before anything is read
    check_shadow_models(shadow_models)
    if output_table is not None:
        output_table.check()
    folder = check_new_folder(output)
    declared = Schema.load(schema) if isinstance(schema, str | Path) else schema
    stages = Console(stderr=True, quiet=not progress)
    stages.print("[bold]1/4[/bold] reading and splitting off the holdout")
    table = reading.read(data) if is_table_source(data) else data
    train, holdout = split_holdout(table, holdout_share, target=target, seed=seed)
    stages.print(f"[bold]2/4[/bold] training on {len(train)} rows ({len(holdout)} held out)")
    fitted = fit(
        train,
        model,
        preset=preset,
        settings={"seed": seed, **(settings or {})},  # the whole release follows from `seed`
        schema=declared,
        dp_epsilon=dp_epsilon,
        dp_delta=dp_delta,
        progress=progress,
    )
    stages.print(describe_selection(fitted.selection_) or f"model {fitted.name}")
    stages.print("[bold]3/4[/bold] generating")

    generate = _drawing(fitted, seed)
    synthetic = generate(rows or len(train), -1)
    stages.print("[bold]4/4[/bold] evaluating and gating")
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{folder.name}.generator-", dir=folder.parent) as scratch:
        generator = fitted.save(Path(scratch) / GENERATOR_FILE)
        return release(
            synthetic,
            train,
            holdout,
            folder,
            generator=generator,
            include_generator=include_generator,
            target=target,
            schema=declared,
            policy=Policy.load(policy) if isinstance(policy, str | Path) else policy,
            seed=seed,
            k_anonymity=None if k_anonymity is None else (quasi_identifiers, k_anonymity),
            generate=generate,
            recipe=recipe_of(fitted, declared),
            shadow_models=shadow_models,
            progress=progress,
            output_table=output_table,
        )


def generator_rare_check(meta: dict[str, Any], train: pd.DataFrame, min_count: int) -> Check:
    """Whether a generator to be released carries, among the categories it learned from the data, one held by
    fewer than `min_count` TRAIN records (its file would publish it even if no sample shows it)."""
    learned = {
        state["column"]: state
        for state in meta["transformer"]["columns"]
        if state.get("domain") == "data" and "categories" in state and state["column"] in train.columns
    }
    columns = [ColumnSchema(name, ColumnKind(state["kind"])) for name, state in learned.items()]
    carried = [
        name
        for name, values in rare_categories(train, columns, min_count).items()
        if {json_scalar(value) for value in values} & set(learned[name]["categories"])
    ]
    if carried:
        return Check(
            "rare categories in the generator",
            Verdict.FAIL,
            f"the generator's file lists categories of fewer than {min_count} training records (columns "
            f"{', '.join(map(repr, carried))}): release without --include-generator, or refit with `rare: merge` "
            "or `rare: suppress` declared for them",
        )
    return Check(
        "rare categories in the generator",
        Verdict.PASS,
        f"the generator lists no category of fewer than {min_count} training records",
    )


def describe(outcome: ReleaseOutcome) -> list[str]:
    """What the CLI prints: where the release went, or why it was refused."""
    if outcome.released:
        lines = [
            f"released to {outcome.folder}: privacy PASS; {SYNTHETIC_FILE}, {', '.join(CARD_FILES)}, {REPORT_FILE}"
        ]
        if outcome.replaced or outcome.dropped:
            lines.append(f"k-anonymity: {outcome.replaced} rows replaced by new ones, {outcome.dropped} dropped")
        return lines
    lines = [f"release refused: privacy verdict {outcome.privacy_verdict.value.upper()} (PASS is required)"]
    lines += [f"  {check.verdict.value}: {check.name}: {check.reason}" for check in outcome.blocking]
    lines.append(f"only the report was written, to {outcome.folder}")
    return lines
