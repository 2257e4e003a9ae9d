"""`segdb subject set`, `segdb session set` and `segdb plane set`: what NWB and DANDI need to know.

Each option left out keeps its value; an empty value (``--lab ""``) clears it.
"""

from __future__ import annotations

import argparse
from typing import Any

from segdb.cli.arguments import add_archive_option, add_json_option, open_archive, segmentation_ref
from segdb.cli.output import print_records

SUBJECT_COLUMNS = ["name", "species", "sex", "age", "date_of_birth", "genotype", "strain", "num_sessions"]
SESSION_COLUMNS = ["subject", "name", "session_start", "experimenters", "lab", "institution", "description"]
PLANE_COLUMNS = ["name", "height", "width", "pixel_size_um", "sampling_frequency", "indicator", "location",
                 "excitation_nm", "emission_nm", "device", "field_of_view"]


def add_describe(commands: Any) -> None:
    subject = _setter(commands, "subject", "SUBJECT", "describe a subject (species, sex, age, genotype, …)")
    subject.add_argument("--species", help="Latin name, e.g. 'Mus musculus' (common names like mouse are translated)")
    subject.add_argument("--sex", help="M, F, U (unknown) or O (other)")
    subject.add_argument("--age", help="ISO 8601 duration at the first session, e.g. P90D")
    subject.add_argument("--date-of-birth", help="ISO date, e.g. 2025-12-01")
    subject.add_argument("--genotype", help="e.g. 'Ai93;Emx1-Cre'")
    subject.add_argument("--strain", help="e.g. C57BL/6J")
    subject.set_defaults(handler=run_subject_set)

    session = _setter(commands, "session", "SUBJECT/SESSION", "describe a session (experimenters, lab, …)")
    session.add_argument("--experimenter", action="append", default=None,
                         help="'Last, First'; repeat for several people (replaces the list)")
    session.add_argument("--description", help="what was done in the session")
    session.add_argument("--lab", help="the lab")
    session.add_argument("--institution", help="the institution")
    session.add_argument("--start", help="when imaging started, ISO date/time")
    session.set_defaults(handler=run_session_set)

    plane = _setter(commands, "plane", "SEGMENTATION", "describe an imaging plane (indicator, location, …)")
    plane.add_argument("--plane", default=None, help="plane name (needed when the segmentation has several)")
    plane.add_argument("--indicator", help="e.g. GCaMP6s")
    plane.add_argument("--location", help="brain area and layer, e.g. 'VISp L2/3'")
    plane.add_argument("--excitation-nm", help="excitation wavelength in nm, e.g. 920")
    plane.add_argument("--emission-nm", help="emission wavelength in nm, e.g. 510")
    plane.add_argument("--device", help="the microscope, e.g. 'Bruker Ultima'")
    plane.add_argument("--description", help="what the plane is")
    plane.add_argument("--pixel-size-um", help="µm per pixel (moves the ROIs' µm positions with it)")
    plane.set_defaults(handler=run_plane_set)


def _setter(commands: Any, noun: str, target: str, help_text: str) -> argparse.ArgumentParser:
    group = commands.add_parser(noun, help=help_text)
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION", help="what to do")
    setter = actions.add_parser("set", help=help_text)
    setter.add_argument("target", metavar=target, help=f"the {noun} to describe, as {target}")
    add_archive_option(setter)
    add_json_option(setter)
    return setter


def _set(args: argparse.Namespace, method: str, targets: tuple, fields: dict[str, str], columns: list[str]) -> int:
    """Call ``archive.<method>(*targets, field=value, ...)`` with each option's value, and print the record."""
    with open_archive(args) as archive:
        values = {field: getattr(args, option) for option, field in fields.items()}
        record = getattr(archive, method)(*targets, **values)
    print_records([record], columns, as_json=args.json)
    return 0


def run_subject_set(args: argparse.Namespace) -> int:
    fields = {name: name for name in ("species", "sex", "age", "date_of_birth", "genotype", "strain")}
    return _set(args, "set_subject", (args.target,), fields, SUBJECT_COLUMNS)


def run_session_set(args: argparse.Namespace) -> int:
    fields = {"experimenter": "experimenters", "description": "description", "lab": "lab",
              "institution": "institution", "start": "session_start"}
    return _set(args, "set_session", (args.target,), fields, SESSION_COLUMNS)


def run_plane_set(args: argparse.Namespace) -> int:
    fields = {name: name for name in ("indicator", "location", "excitation_nm", "emission_nm", "device",
                                      "description", "pixel_size_um")}
    return _set(args, "set_plane", (segmentation_ref(args.target), args.plane), fields, PLANE_COLUMNS)
