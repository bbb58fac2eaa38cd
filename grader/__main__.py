"""`python -m grader [SUBMISSION] [--json PATH] [--device cpu|cuda] [--concept ID] [--timeout SECONDS]`."""
import argparse
import json
import sys

from grader.errors import GraderError, UsageError


class _Parser(argparse.ArgumentParser):
    """Bad arguments become a one-line UsageError instead of argparse's usage dump."""

    def error(self, message):
        raise UsageError(f"{message} (see python -m grader --help)")


def build_parser() -> argparse.ArgumentParser:
    from grader.pipeline import DEFAULT_TIMEOUT, DEVICES

    parser = _Parser(
        prog="python -m grader",
        description="Grade an attention-chapter submission concept by concept.")
    parser.add_argument("submission", nargs="?", default="./exercises",
                        help="a folder (copy of exercises/), a .py file or a .ipynb notebook (default: ./exercises)")
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON to PATH")
    parser.add_argument("--device", choices=DEVICES, default="cpu", help="where student code runs (default: cpu)")
    parser.add_argument("--concept", action="append", default=[], metavar="ID",
                        help="grade only this concept (repeatable)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"wall-clock budget for the whole submission (default: {DEFAULT_TIMEOUT:g})")
    return parser


def main(argv=None) -> int:
    try:
        options = build_parser().parse_args(argv)
        from grader.pipeline import grade
        from grader.reporters import render_table, to_json

        report = grade(options.submission, device=options.device, concepts=options.concept,
                       timeout=options.timeout)
        print(render_table(report), end="")
        if options.json:
            try:
                with open(options.json, "w", encoding="utf-8") as f:
                    json.dump(to_json(report), f, indent=2)
                    f.write("\n")
            except OSError as exc:
                raise UsageError(f"cannot write the JSON report to {options.json}: {exc.strerror}") from None
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except GraderError as exc:
        print(f"grader error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
