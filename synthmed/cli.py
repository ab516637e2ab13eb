"""Command line: `synthmed fit | sample | ehr-matrix | schema | models | demo`.

The CLI only parses arguments, calls the Python API and turns synthmed errors into a one-paragraph
message; it never shows a traceback for a user mistake. Exit statuses:

| status | meaning |
|---|---|
| 0 | done |
| 1 | internal error: a bug in synthmed (SYNTHMED_DEBUG=1 shows the traceback) |
| 2 | user error: bad input, options or paths; the message names the remedy |
| 3 | `release` refused: the privacy verdict is not PASS (only the report was written) |
| 4 | `audit` found the generator leaking more than its privacy accounting allows |
| 130 | interrupted (Ctrl-C); nothing partial is left behind |
"""

from __future__ import annotations

import functools
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from synthmed.errors import ConfigError, SynthmedError, SynthmedWarning

app = typer.Typer(
    name="synthmed",
    help="Train generative models on sensitive patient tables and release synthetic data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary lines.")]
Threads = Annotated[
    int | None,
    typer.Option(help="CPU threads for torch (default: one per core); outputs reproduce only with the same count."),
]
EXIT_INTERNAL_ERROR = 1
EXIT_USER_ERROR = 2
EXIT_RELEASE_REFUSED = 3
EXIT_AUDIT_INCONSISTENT = 4
EXIT_INTERRUPTED = 130

Model = Annotated[
    str,
    typer.Option("--model", "-m", help="Model name (see `synthmed models`), or auto: chosen from the data."),
]
Preset = Annotated[
    str | None, typer.Option(help="A named set of synthmed's measured settings (see `synthmed presets`).")
]
Epochs = Annotated[int | None, typer.Option(help="Training epochs (default: the model's or the preset's).")]
BatchSize = Annotated[int | None, typer.Option(help="Minibatch size (default: the model's or the preset's).")]
Device = Annotated[str | None, typer.Option(help="auto, cpu or cuda.")]
Settings = Annotated[list[str] | None, typer.Option("--set", help="Any other hyperparameter, NAME=VALUE (repeatable).")]
Encoding = Annotated[str | None, typer.Option(help="Text encoding of a CSV input, e.g. latin-1.")]
Decimal = Annotated[
    str | None,
    typer.Option(help='Decimal mark of a CSV input\'s numbers when the file leaves it unclear: "," or ".".'),
]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace output files that exist already.")]
SparseOutput = Annotated[
    bool,
    typer.Option(
        "--sparse",
        help="Write a sparse Parquet matrix (one row per patient: its codes), for cohorts too big to be dense.",
    ),
]
NaValues = Annotated[
    list[str] | None,
    typer.Option("--na-values", help='Extra missing-value marker, e.g. "?" (repeatable).'),
]
Db = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Read tables from this database instead of files: duckdb:///path.duckdb or a SQLAlchemy URL "
        "(postgresql://user@host/db). Table arguments then name tables in it.",
    ),
]
DbTable = Annotated[str | None, typer.Option("--table", help="With --db: the table to read (schema.table allowed).")]
DbQuery = Annotated[str | None, typer.Option("--query", help="With --db: read the result of this SQL query.")]
TrainingTable = Annotated[
    Path | None, typer.Argument(help="Training table: CSV (optionally compressed) or Parquet; or --db.")
]
IfExists = Annotated[
    str, typer.Option("--if-exists", help="Writing to a database table that exists: fail, replace or append.")
]


def _source(data: Path | None, db: str | None, table: str | None, query: str | None, what: str) -> Any:
    """The table a command reads: a file, or with --db a table or query in that database."""
    from synthmed.data.database import DatabaseTable

    if db is None:
        if table is not None or query is not None:
            raise ConfigError("--table and --query read from a database", remedy="also give --db URL")
        if data is None:
            raise ConfigError(f"{what} is missing", remedy="give a file, or --db URL with --table NAME or --query SQL")
        return data
    if data is not None:
        raise ConfigError(
            f"{what} comes from a file or from --db, not both", remedy="drop the file, or drop --db/--table/--query"
        )
    return DatabaseTable(db, table=table, query=query)


def _in_db(db: str | None, name: Path | None) -> Any:
    """With --db, a table option (--train, --holdout, --synthetic) names a table in the database."""
    from synthmed.data.database import DatabaseTable

    return name if db is None or name is None else DatabaseTable(db, table=str(name))


def _say(message: str, quiet: bool = False) -> None:
    if not quiet:
        typer.echo(message)


def _show_warning(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 speaks for all
        return
    prefix = "note" if issubclass(category, SynthmedWarning) else "warning"
    typer.echo(f"{prefix}: {message}", err=True)


def handles_errors(command: Callable[..., None]) -> Callable[..., None]:
    """Report synthmed errors as a message and exit status 2, anything else as an internal error (status 1)
    without a traceback unless SYNTHMED_DEBUG is set (the library raises; only the CLI prints)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        with warnings.catch_warnings():  # restores the caller's warning display afterwards
            warnings.showwarning = _show_warning
            try:
                command(*args, **kwargs)
            except SynthmedError as error:
                typer.echo(f"error: {error}", err=True)
                raise typer.Exit(EXIT_USER_ERROR) from None
            except KeyboardInterrupt:
                typer.echo("interrupted", err=True)
                raise typer.Exit(EXIT_INTERRUPTED) from None
            except MemoryError:
                typer.echo(
                    "error: out of memory. Remedy: use fewer rows (--rows), a smaller --batch-size, or a machine with "
                    "more memory.",
                    err=True,
                )
                raise typer.Exit(EXIT_INTERNAL_ERROR) from None
            except (typer.Exit, typer.Abort, SystemExit):
                raise
            except Exception as error:
                if os.environ.get("SYNTHMED_DEBUG"):
                    raise
                typer.echo(
                    f"internal error: {type(error).__name__}: {error}\nThis is a bug in synthmed, not in your input: "
                    "please report it with the command you ran (set SYNTHMED_DEBUG=1 to see the traceback).",
                    err=True,
                )
                raise typer.Exit(EXIT_INTERNAL_ERROR) from None

    return wrapper


def _settings(texts: list[str] | None, **chosen: Any) -> dict[str, Any]:
    """`--set NAME=VALUE` texts (typed by the model, see models/registry.py: configure) and the options given
    (None: the model's default)."""
    settings: dict[str, Any] = {}
    for text in texts or []:
        name, separator, raw = text.partition("=")
        name = name.strip().replace("-", "_")
        if not separator or not name:
            raise ConfigError(
                "a --set option must look like NAME=VALUE", values=[text], remedy="e.g. --set discriminator_steps=2"
            )
        settings[name] = raw
    settings.update({name: value for name, value in chosen.items() if value is not None})
    return settings


def _names(text: str | None) -> list[str] | None:
    """`age,sex, zip3` -> ["age", "sex", "zip3"]; nothing given (or blank) -> None."""
    names = [name.strip() for name in (text or "").split(",") if name.strip()]
    return names or None


def _column_and_value(text: str, option: str, example: str) -> tuple[str, str]:
    column, separator, value = text.partition("=")
    if not separator or not column.strip():
        raise ConfigError(f"a {option} option must look like {example}", values=[text], remedy=f"e.g. {option} sex=F")
    return column.strip(), value


def _parse_conditions(texts: list[str]) -> dict[str, str | None]:
    """`--condition sex=F` -> {"sex": "F"}; an empty value means missing."""
    conditions: dict[str, str | None] = {}
    for text in texts:
        column, value = _column_and_value(text, "--condition", "COLUMN=VALUE")
        if column in conditions:
            raise ConfigError("a column is given two conditions", column=column, remedy="give each column once")
        conditions[column] = value or None
    return conditions


def _parse_proportions(text: str | None) -> dict[str, dict[str | None, float]] | None:
    """`--proportions sex=F:0.5,M:0.5` -> {"sex": {"F": 0.5, "M": 0.5}}."""
    if text is None:
        return None
    column, spec = _column_and_value(text, "--proportions", "COLUMN=VALUE:SHARE,VALUE:SHARE")
    shares: dict[str | None, float] = {}
    for item in spec.split(","):
        value, separator, share = item.rpartition(":")
        if (value or None) in shares:
            raise ConfigError("a value is given two proportions", column=column, values=[value])
        try:
            shares[value or None] = float(share)
        except ValueError:
            separator = ""
        if not separator:
            raise ConfigError(
                "each proportion must look like VALUE:SHARE", column=column, values=[item], remedy="e.g. F:0.5,M:0.5"
            )
    return {column: shares}


@app.command()
@handles_errors
def fit(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the generator (.smg).")],
    data: TrainingTable = None,
    db: Db = None,
    table: DbTable = None,
    query: DbQuery = None,
    model: Model = "auto",
    preset: Preset = None,
    epochs: Epochs = None,
    batch_size: BatchSize = None,
    seed: Annotated[int | None, typer.Option(help="Random seed; same data + seed = same model.")] = None,
    device: Device = None,
    schema: Annotated[Path | None, typer.Option(help="JSON/YAML schema overriding inferred column kinds.")] = None,
    na_values: NaValues = None,
    encoding: Encoding = None,
    settings: Settings = None,
    checkpoint: Annotated[
        Path | None, typer.Option(help="Folder for training checkpoints; rerunning the command resumes from it.")
    ] = None,
    checkpoint_every: Annotated[int, typer.Option(help="Epochs between checkpoints.")] = 10,
    monitor_every: Annotated[
        int | None,
        typer.Option(help="Score generated rows every K epochs (column fidelity, correlation difference)."),
    ] = None,
    keep_best: Annotated[
        bool, typer.Option("--keep-best", help="Keep the weights of the best-scoring monitored epoch.")
    ] = False,
    dp_epsilon: Annotated[
        float | None,
        typer.Option(help="Train with (epsilon, delta)-differential privacy (DP-SGD); needs declared domains."),
    ] = None,
    dp_delta: Annotated[float | None, typer.Option(help="DP delta (default: 1 / (10 x rows)).")] = None,
    sequence_id: Annotated[
        str | None, typer.Option(help="Sequence models: the column naming each sequence of a long table.")
    ] = None,
    time_column: Annotated[
        str | None,
        typer.Option(
            "--time", help="Sequence models: the column ordering a sequence's steps. Histories: each visit's time."
        ),
    ] = None,
    window: Annotated[
        int | None, typer.Option(help="Sequence models: cut a recording into windows of this many steps.")
    ] = None,
    patient_column: Annotated[
        str | None, typer.Option(help="Histories (visitgpt): the column naming each event's patient.")
    ] = None,
    codes: Annotated[
        str | None, typer.Option(help="Histories: the code columns (text), comma-separated, e.g. diag_1,diag_2.")
    ] = None,
    visit_column: Annotated[
        str | None, typer.Option(help="Histories: the visit id column (give it, --time, or both).")
    ] = None,
    visits: Annotated[
        Path | None,
        typer.Option(
            help="Histories: a visits table (e.g. ADMISSIONS; with --db, a table there), joined on --visit-column."
        ),
    ] = None,
    patients: Annotated[
        Path | None,
        typer.Option(
            help="Histories: a patients table (e.g. PATIENTS; with --db, a table there), joined on --patient-column."
        ),
    ] = None,
    exclude: Annotated[
        str | None, typer.Option(help="Histories: columns not modelled, comma-separated, e.g. row_id,seq_num.")
    ] = None,
    rare_values: Annotated[
        str | None,
        typer.Option(
            help="Histories: codes and categories fewer than --min-patients patients hold: merge (into '(other)', "
            "the default), suppress, or keep (declares them public). Numbers are top- and bottom-coded unless keep."
        ),
    ] = None,
    min_patients: Annotated[
        int | None, typer.Option(help="Histories: patients a value needs to ship in the generator (default 5).")
    ] = None,
    groups: Annotated[
        Path | None,
        typer.Option(help="Histories: YAML of named code-prefix groups; codes become the groups they fall in."),
    ] = None,
    threads: Threads = None,
    decimal: Decimal = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Train a generator on a table (on sequences for tsgan; on patient histories, events with --patient-column and
    --codes, for visitgpt) and save it."""
    from synthmed.workflows.training import describe_fit, fit_to_file

    fitted = fit_to_file(
        _source(data, db, table, query, "the training table"),
        output,
        model,
        preset=preset,
        settings=_settings(settings, epochs=epochs, batch_size=batch_size, seed=seed, device=device),
        threads=threads,
        overwrite=overwrite,
        sequence_id=sequence_id,
        time_column=time_column,
        window=window,
        patient_column=patient_column,
        codes=_names(codes),
        visit_column=visit_column,
        visits=_in_db(db, visits),
        patients=_in_db(db, patients),
        exclude=_names(exclude),
        rare_values=rare_values,
        min_patients=min_patients,
        groups=groups,
        schema=schema,
        na_values=na_values,
        encoding=encoding,
        decimal=decimal,
        progress=not quiet,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        monitor_every=monitor_every,
        keep_best=keep_best,
        dp_epsilon=dp_epsilon,
        dp_delta=dp_delta,
    )
    for line in describe_fit(fitted) if fitted.path is not None else []:  # under torchrun, rank 0 speaks
        _say(line, quiet)


@app.command()
@handles_errors
def sample(
    model: Annotated[Path, typer.Argument(help="A generator written by `synthmed fit`.")],
    rows: Annotated[
        int, typer.Option("--rows", "-n", help="Number of synthetic rows (sequences for tsgan, patients for visitgpt).")
    ],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output .csv or .parquet file.")] = None,
    db: Annotated[str | None, typer.Option("--db", help="Write into this database instead (with --table).")] = None,
    table: Annotated[str | None, typer.Option("--table", help="With --db: the table to write.")] = None,
    if_exists: IfExists = "fail",
    seed: Annotated[int | None, typer.Option(help="Sampling seed (default: derived from the model's).")] = None,
    condition: Annotated[
        list[str] | None,
        typer.Option(help="Only rows with COLUMN=VALUE (repeatable; COLUMN= is a categorical's missing value)."),
    ] = None,
    proportions: Annotated[
        str | None, typer.Option(help="One column's mix, COLUMN=VALUE:SHARE,VALUE:SHARE (shares sum to 1).")
    ] = None,
    threads: Threads = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Generate synthetic rows from a saved generator (sequences in long format: sequence, step, channels; patient
    histories in the layout of the events they were fitted on)."""
    from synthmed.data.database import DatabaseDestination
    from synthmed.workflows.training import sample_to_file

    if output is not None and db is None and table is None:
        destination: Any = output
    elif output is None and db is not None and table is not None:
        destination = DatabaseDestination(db, table, if_exists)
    else:
        raise ConfigError("sample writes to one place", remedy="give -o FILE, or --db URL with --table NAME")
    written, columns = sample_to_file(
        model,
        rows,
        destination,
        seed=seed,
        conditions=_parse_conditions(condition or []),
        proportions=_parse_proportions(proportions),
        threads=threads,
        overwrite=overwrite,
    )
    _say(f"wrote {written} synthetic rows x {columns} columns to {destination}", quiet)


@app.command()
@handles_errors
def convert(
    data: Annotated[Path, typer.Argument(help="A fixed-width text file (optionally .gz/.bz2/.xz/.zip compressed).")],
    layout: Annotated[Path, typer.Option(help="YAML/JSON layout: fields with name, start (1-based), width, type.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output .parquet or .csv table.")],
    encoding: Annotated[str, typer.Option(help="Text encoding of the file.")] = "latin-1",
    overwrite: Overwrite = False,
) -> None:
    """Turn a fixed-width file (public-use micro-data such as NHDS) into a table, driven by a layout file."""
    from synthmed.data.fixed_width import convert_fixed_width

    table = convert_fixed_width(data, layout, output, encoding=encoding, overwrite=overwrite)
    typer.echo(f"{len(table):,} records x {table.shape[1]} fields written to {output}")


@app.command("ehr-matrix")
@handles_errors
def ehr_matrix(
    output: Annotated[Path, typer.Option("--output", "-o", help="Output .parquet or .csv matrix.")],
    events: Annotated[Path | None, typer.Argument(help="Event table, e.g. MIMIC's DIAGNOSES_ICD.csv; or --db.")] = None,
    db: Db = None,
    table: DbTable = None,
    query: DbQuery = None,
    granularity: Annotated[str, typer.Option(help="3digit (medGAN) or full ICD-9 codes.")] = "3digit",
    counts: Annotated[bool, typer.Option("--counts", help="Count occurrences instead of 0/1.")] = False,
    unit: Annotated[str, typer.Option(help="One row per patient or per admission.")] = "patient",
    patient_column: Annotated[str | None, typer.Option(help="Default: subject_id / patient_id.")] = None,
    code_column: Annotated[str | None, typer.Option(help="Default: icd9_code / icd_code / code.")] = None,
    groups: Annotated[
        Path | None, typer.Option(help="YAML of named code-prefix groups: one 0/1 column per group, not per code.")
    ] = None,
    code_columns: Annotated[
        str | None,
        typer.Option(help="A wide table's code columns, comma-separated ('diagnosis_*' matches many)."),
    ] = None,
    encoding: Encoding = None,
    sparse: SparseOutput = False,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Build a patient x diagnosis-code matrix (binary or counts) from an event table, or x code groups."""
    from synthmed.workflows.ehr_matrix import build_ehr_matrix

    description = build_ehr_matrix(
        _source(events, db, table, query, "the event table"),
        output,
        granularity=granularity,
        counts=counts,
        unit=unit,
        patient_column=patient_column,
        code_column=code_column,
        groups=groups,
        code_columns=[p.strip() for p in code_columns.split(",") if p.strip()] if code_columns is not None else None,
        encoding=encoding,
        sparse=sparse,
        overwrite=overwrite,
    )
    _say(description, quiet)


@app.command("omop-matrix")
@handles_errors
def omop_matrix(
    db: Annotated[str, typer.Option("--db", help="The OMOP CDM's database: duckdb:///PATH or a SQLAlchemy URL.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output .parquet or .csv matrix.")],
    cdm_schema: Annotated[
        str | None, typer.Option("--schema", help="The database schema holding the CDM tables, e.g. cdm.")
    ] = None,
    domain: Annotated[str, typer.Option(help="condition, drug, procedure or measurement.")] = "condition",
    level: Annotated[
        str, typer.Option(help="concept, or ancestor:N to roll concepts up N levels through concept_ancestor.")
    ] = "concept",
    counts: Annotated[bool, typer.Option("--counts", help="Count events instead of 0/1.")] = False,
    demographics: Annotated[
        bool, typer.Option("--demographics", help="Add year of birth, gender and race from person.")
    ] = False,
    sparse: SparseOutput = False,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Build a person x concept matrix (binary or counts) from an OMOP CDM, counted by the database itself."""
    from synthmed.workflows.omop import build_omop_matrix

    description = build_omop_matrix(
        db,
        output,
        schema=cdm_schema,
        domain=domain,
        level=level,
        counts=counts,
        demographics=demographics,
        sparse=sparse,
        overwrite=overwrite,
    )
    _say(description, quiet)


@app.command("omop-export")
@handles_errors
def omop_export(
    synthetic: Annotated[Path, typer.Argument(help="A synthetic person x concept matrix (a sample of a model).")],
    db: Annotated[str, typer.Option("--db", help="The database to write OMOP person and condition_occurrence into.")],
    cdm_schema: Annotated[str | None, typer.Option("--schema", help="The database schema to write into.")] = None,
    if_exists: IfExists = "fail",
    quiet: Quiet = False,
) -> None:
    """Write a synthetic person x concept matrix back as OMOP person and condition_occurrence rows."""
    from synthmed.workflows.omop import export_omop

    _say(export_omop(synthetic, db, schema=cdm_schema, if_exists=if_exists), quiet)


@app.command()
@handles_errors
def schema(
    data: Annotated[Path | None, typer.Argument(help="Table to describe (a file; or --db).")] = None,
    db: Db = None,
    table: DbTable = None,
    query: DbQuery = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write YAML/JSON here.")] = None,
    na_values: NaValues = None,
    encoding: Encoding = None,
    decimal: Decimal = None,
    overwrite: Overwrite = False,
) -> None:
    """Infer a table's schema, to review and edit before `fit --schema`."""
    from synthmed.data.inference import infer_schema_file

    inferred = infer_schema_file(
        _source(data, db, table, query, "the table"),
        output,
        na_values=na_values,
        encoding=encoding,
        decimal=decimal,
        overwrite=overwrite,
    )
    if output is None:
        typer.echo(inferred.to_yaml(), nl=False)


@app.command()
@handles_errors
def evaluate(
    train: Annotated[Path, typer.Option(help="The real data the generator was fitted on.")],
    holdout: Annotated[Path, typer.Option(help="Real data from the same population the generator never saw.")],
    synthetic: Annotated[Path, typer.Option(help="The synthetic data to judge.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Self-contained HTML report.")] = None,
    json_output: Annotated[Path | None, typer.Option("--json", help="Every figure and verdict (JSON).")] = None,
    target: Annotated[str | None, typer.Option(help="Outcome column for utility (TSTR vs TRTR).")] = None,
    schema: Annotated[Path | None, typer.Option(help="JSON/YAML schema overriding inferred column kinds.")] = None,
    quasi_identifiers: Annotated[
        str | None, typer.Option(help="Comma-separated quasi-identifiers for k-anonymity, e.g. age,sex,zip3.")
    ] = None,
    k: Annotated[int, typer.Option(help="k for k-anonymity.")] = 5,
    policy: Annotated[Path | None, typer.Option(help="YAML file overriding the default verdict policy.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for sampling, splits and classifiers.")] = 0,
    sequence_id: Annotated[
        str | None, typer.Option(help="Sequences in long format: the column naming each row's sequence.")
    ] = None,
    time_column: Annotated[
        str | None,
        typer.Option("--time", help="Sequences in long format: the column ordering steps. Histories: visit times."),
    ] = None,
    patient_column: Annotated[
        str | None, typer.Option(help="Histories in long format (as `sample` writes them): the patient column.")
    ] = None,
    codes: Annotated[str | None, typer.Option(help="Histories: the code columns, comma-separated.")] = None,
    visit_column: Annotated[str | None, typer.Option(help="Histories: the visit id column.")] = None,
    window: Annotated[
        int | None, typer.Option(help="Sequences: steps per window (default: the shortest sequence length).")
    ] = None,
    generator: Annotated[
        Path | None, typer.Option(help="The generator (.smg) behind SYNTHETIC: the report plots its monitor curve.")
    ] = None,
    db: Db = None,
    na_values: NaValues = None,
    encoding: Encoding = None,
    decimal: Decimal = None,
    overwrite: Overwrite = False,
) -> None:
    """Judge a synthetic table, synthetic sequences (--sequence-id, --time) or synthetic patient histories
    (--patient-column, --codes, --visit-column and/or --time): fidelity, utility and privacy."""
    from synthmed.data.io import ReadOptions
    from synthmed.workflows.evaluation import describe_evaluation, evaluate_files, history_roles

    result = evaluate_files(
        _in_db(db, train),
        _in_db(db, holdout),
        _in_db(db, synthetic),
        report=output,
        json_output=json_output,
        target=target,
        schema=schema,
        quasi_identifiers=_names(quasi_identifiers),
        k=k,
        policy=policy,
        seed=seed,
        sequence_id=sequence_id,
        time_column=time_column,
        window=window,
        histories=history_roles(patient_column, _names(codes), visit_column, time_column),
        generator=generator,
        reading=ReadOptions(na_values, encoding, decimal),
        overwrite=overwrite,
    )
    for line in describe_evaluation(result.to_dict()):
        typer.echo(line)
    written = " and ".join(str(path) for path in (output, json_output) if path is not None)
    typer.echo(f"written to {written} ({result.about['seconds']:.1f} s)")


@app.command()
@handles_errors
def release(
    output: Annotated[Path, typer.Option("--output", "-o", help="The release folder to create (must not exist).")],
    source: Annotated[
        Path | None,
        typer.Argument(
            help="A raw table to split, fit and release in one command; or a generator (.smg) to sample the "
            "release from, with --train and --holdout."
        ),
    ] = None,
    train: Annotated[Path | None, typer.Option(help="The training table the generator learned from.")] = None,
    holdout: Annotated[
        Path | None, typer.Option(help="Real rows kept out of training (what the privacy tests compare).")
    ] = None,
    holdout_share: Annotated[
        float, typer.Option(help="From a raw table: the share of its rows held out (stratified on --target).")
    ] = 0.2,
    rows: Annotated[int | None, typer.Option("--rows", "-n", help="Rows to generate (default: as TRAIN).")] = None,
    synthetic: Annotated[Path | None, typer.Option(help="Vet this existing synthetic table instead.")] = None,
    include_generator: Annotated[
        bool, typer.Option("--include-generator", help="Also release the generator file.")
    ] = False,
    target: Annotated[str | None, typer.Option(help="Outcome column for the utility checks.")] = None,
    model: Model = "auto",
    preset: Preset = None,
    epochs: Epochs = None,
    batch_size: BatchSize = None,
    device: Device = None,
    settings: Settings = None,
    schema: Annotated[Path | None, typer.Option(help="JSON/YAML schema of the tables.")] = None,
    policy: Annotated[Path | None, typer.Option(help="YAML file overriding the default verdict policy.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for the split, the model, sampling and the evaluation.")] = 0,
    k_anonymity: Annotated[
        int | None, typer.Option(help="Make the release K-anonymous on --quasi-identifiers (rows replaced/dropped).")
    ] = None,
    quasi_identifiers: Annotated[str | None, typer.Option(help="Comma-separated columns for --k-anonymity.")] = None,
    na_values: NaValues = None,
    encoding: Encoding = None,
    decimal: Decimal = None,
    dp_epsilon: Annotated[
        float | None, typer.Option(help="From a raw table: train with (epsilon, delta)-differential privacy.")
    ] = None,
    dp_delta: Annotated[float | None, typer.Option(help="DP delta (default: 1 / (10 x rows)).")] = None,
    db: Db = None,
    table: DbTable = None,
    query: DbQuery = None,
    output_table: Annotated[
        str | None, typer.Option(help="With --db: also write the released synthetic rows to this table.")
    ] = None,
    if_exists: IfExists = "fail",
    shadow_models: Annotated[
        int,
        typer.Option(
            help="When the holdout is too small to decide membership, generators trained the release's way on "
            "halves of the real rows settle it (even, >= 4; 0 skips)."
        ),
    ] = 8,
    threads: Threads = None,
    quiet: Quiet = False,
) -> None:
    """Write synthetic data (and a model card) only when its privacy verdict passes; otherwise only the report.

    From a raw table (`synthmed release heart.csv -o release/ --target num`): a seeded holdout is split off, the
    model (auto by default) trained on the rest, and its rows vetted. Exit status 3 when the release is refused."""
    from synthmed.data.database import DatabaseDestination
    from synthmed.data.io import ReadOptions
    from synthmed.models.training import cpu_threads
    from synthmed.workflows.release import describe, release_files, release_table

    if output_table is not None and db is None:
        raise ConfigError("--output-table writes into a database", remedy="also give --db URL")
    from_db = source is None and (table is not None or query is not None)
    one_command = from_db or (source is not None and source.suffix.lower() != ".smg")
    if one_command and (train is not None or holdout is not None or synthetic is not None):
        raise ConfigError(
            "a raw table is split into training and holdout rows by release itself",
            remedy="leave out --train, --holdout and --synthetic, or give a generator (.smg) instead of a table",
        )
    shared: dict[str, Any] = {
        "rows": rows,
        "include_generator": include_generator,
        "target": target,
        "schema": schema,
        "policy": policy,
        "seed": seed,
        "k_anonymity": k_anonymity,
        "quasi_identifiers": _names(quasi_identifiers),
        "reading": ReadOptions(na_values, encoding, decimal),
        "shadow_models": shadow_models,
        "progress": not quiet,
        "output_table": None if output_table is None else DatabaseDestination(db, output_table, if_exists),
    }
    if one_command:
        with cpu_threads(threads):
            outcome = release_table(
                _source(source, db, table, query, "the table to release"),
                output,
                holdout_share=holdout_share,
                model=model,
                preset=preset,
                settings=_settings(settings, epochs=epochs, batch_size=batch_size, seed=seed, device=device),
                dp_epsilon=dp_epsilon,
                dp_delta=dp_delta,
                **shared,
            )
    else:
        if train is None or holdout is None:
            raise ConfigError(
                "vetting a generator or a synthetic table needs the real --train and --holdout tables",
                remedy="give --train T --holdout H, or release a raw table in one command: synthmed release DATA -o D",
            )
        with cpu_threads(threads):
            outcome = release_files(
                _in_db(db, train),
                _in_db(db, holdout),
                output,
                generator=source,
                synthetic=_in_db(db, synthetic),
                **shared,
            )
    for line in describe(outcome):
        typer.echo(line, err=not outcome.released)
    if not outcome.released:
        raise typer.Exit(EXIT_RELEASE_REFUSED)


@app.command()
@handles_errors
def audit(
    data: TrainingTable = None,
    db: Db = None,
    table: DbTable = None,
    query: DbQuery = None,
    model: Model = "auto",
    preset: Preset = None,
    epochs: Epochs = None,
    batch_size: BatchSize = None,
    device: Device = None,
    seed: Annotated[int, typer.Option(help="Seed for the canaries, the model and sampling.")] = 0,
    schema: Annotated[Path | None, typer.Option(help="JSON/YAML schema (declared domains bound the canaries).")] = None,
    settings: Settings = None,
    dp_epsilon: Annotated[float | None, typer.Option(help="Train with (epsilon, delta)-DP and audit that.")] = None,
    dp_delta: Annotated[float | None, typer.Option(help="DP delta (default: 1 / (10 x rows)).")] = None,
    once: Annotated[int, typer.Option(help="Canaries inserted once (the membership game's members).")] = 32,
    repeated: Annotated[int, typer.Option(help="Canaries inserted 2, 4, 8 and 16 times, each.")] = 4,
    reference: Annotated[int, typer.Option(help="Canaries drawn alike but never inserted.")] = 256,
    rows: Annotated[int | None, typer.Option("--rows", "-n", help="Rows to generate (default: as trained on).")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the result as JSON here.")] = None,
    na_values: NaValues = None,
    encoding: Encoding = None,
    decimal: Decimal = None,
    patient_column: Annotated[
        str | None, typer.Option(help="Histories: audit visitgpt on events; the column naming each patient.")
    ] = None,
    codes: Annotated[str | None, typer.Option(help="Histories: the code columns, comma-separated.")] = None,
    visit_column: Annotated[str | None, typer.Option(help="Histories: the visit id column.")] = None,
    time_column: Annotated[str | None, typer.Option("--time", help="Histories: each visit's time.")] = None,
    exclude: Annotated[str | None, typer.Option(help="Histories: columns not modelled, comma-separated.")] = None,
    rare_values: Annotated[
        str | None, typer.Option(help="Histories: merge (default), suppress or keep rare codes and categories.")
    ] = None,
    min_patients: Annotated[
        int | None, typer.Option(help="Histories: patients a value needs to ship (default 5).")
    ] = None,
    threads: Threads = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Plant canary records (with --patient-column and --codes, canary patients' histories) in a copy of the data,
    train, and measure how the generator reproduces them.

    Exit status 4 when the generator leaks more than its privacy accounting allows."""
    from synthmed.data.io import ReadOptions
    from synthmed.workflows.audit import describe_audit
    from synthmed.workflows.evaluation import history_roles
    from synthmed.workflows.history_audit import audit_data

    history_flags = {"--time": time_column, "--exclude": exclude, "--rare-values": rare_values}
    result = audit_data(
        _source(data, db, table, query, "the training table"),
        model,
        roles=history_roles(patient_column, _names(codes), visit_column, time_column, _names(exclude)),
        schema=schema,
        rows=rows,
        history_options=history_flags | {"--min-patients": min_patients},
        preset=preset,
        settings=_settings(settings, epochs=epochs, batch_size=batch_size, seed=seed, device=device),
        threads=threads,
        output=output,
        reading=ReadOptions(na_values, encoding, decimal),
        overwrite=overwrite,
        once=once,
        per_repetition=repeated,
        reference=reference,
        seed=seed,
        dp_epsilon=dp_epsilon,
        dp_delta=dp_delta,
        progress=not quiet,
    )
    for line in describe_audit(result):
        typer.echo(line)
    if not result.consistent:
        raise typer.Exit(EXIT_AUDIT_INCONSISTENT)


@app.command()
def models() -> None:
    """List the available models, one per line: CLI name, then what it is."""
    from synthmed.models.registry import ENTRIES

    for name, entry in ENTRIES.items():
        typer.echo(f"{name}\t{entry.summary}")


@app.command()
def presets() -> None:
    """List the presets, one per line: name, model, then what it changes."""
    from synthmed.models.presets import PRESETS

    for name, preset in PRESETS.items():
        typer.echo(f"{name}\t{preset.model}\t{preset.description}")


@app.command()
@handles_errors
def demo(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the table and its release.")] = Path(
        "demo-output"
    ),
    epochs: Annotated[int | None, typer.Option(help="Training epochs (default: the chosen model's).")] = None,
    quiet: Quiet = False,
) -> None:
    """The main job on an embedded table: scikit-learn's breast-cancer data split, fitted, evaluated and gated.

    Prints the three verdicts with the figures behind them beside the real holdout's, and where the report is."""
    from synthmed.workflows.demo import run_demo
    from synthmed.workflows.release import describe

    result = run_demo(output, epochs=epochs, progress=not quiet)
    for line in [*result.summary, describe(result.outcome)[0]]:
        typer.echo(line)
    typer.echo(f"report: {result.report_path} (table: {result.table_path}; {result.seconds:.1f} s)")


# OpenMP threads that wait by spinning take the cores a second process on a shared server needs: beside one other
# fit, tabgan's ran 3.1x slower with libgomp's default and 1.1x with PASSIVE (benchmarks/shared_cpu.py). Set before
# torch loads, unless the user chose a policy.
WAIT_POLICY = "PASSIVE"


def main() -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)
    try:
        app()
    except SystemExit as done:
        code = done.code
    else:
        code = 0
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # a torchrun rank: once its work is done and flushed, leave without C++ teardown, where gloo's threads
        # can abort an exiting process (about one run in six on CPU) and fail a finished run
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else 0 if code is None else 1)
    sys.exit(code)
