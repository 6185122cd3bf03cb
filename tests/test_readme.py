"""The README's examples hold: its Python runs as written, and every `tradpal` command it
shows exists with the options it is shown with."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer
import typer.main
from typer.core import TyperGroup

from tradpal.cli.main import app, run

README = Path(__file__).resolve().parents[1] / "README.md"

# A command starts at `tradpal` (or `.venv/bin/tradpal`) that is not part of a longer word or
# path and is followed by a word (the name alone is no command), and ends at the end of the
# line, a `)` (a `$(...)` substitution, a parenthesised mention) or a backtick.
_COMMAND = re.compile(r"(?<![\w/.-])(?:\.venv/bin/)?tradpal( [a-z-][^)`\n]*)")


def test_readme_python_examples_run(capsys) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no Python example"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})
    assert "Sharpe" in capsys.readouterr().out


def readme_commands(text: str) -> list[str]:
    """Every `tradpal ...` command in ``text``'s bash and text blocks (a line continued with
    a trailing backslash joined to the next), then every inline code span that is one."""
    commands: list[str] = []
    for block in re.findall(r"```(?:bash|text)\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n", " ", block)
        commands.extend(f"tradpal{m.group(1)}".rstrip() for m in _COMMAND.finditer(joined))
    for span in re.findall(r"(?<!`)`([^`\n]+)`(?!`)", text):
        match = _COMMAND.fullmatch(span.strip())
        if match:
            commands.append(f"tradpal{match.group(1)}".rstrip())
    return commands


def command_problem(command: str) -> str | None:
    """Why ``command`` (a `tradpal ...` line, comments allowed) would not run, or ``None``.

    Parses it with the commands behind the typer app (``typer.main.get_command``: typer's
    own fork of click, ``typer._click``), exactly as the command line would, without
    invoking anything: an unknown command or option, a bad value, a missing value or
    required option, or an extra argument is a problem.
    """
    tokens = shlex.split(command, comments=True)
    assert tokens[0] == "tradpal", command
    cmd = typer.main.get_command(app)
    name, args = "tradpal", tokens[1:]
    ctx = None
    try:
        while True:
            if isinstance(cmd, TyperGroup) and not args:  # it would only print its help
                return f"`{' '.join(tokens)}` names no command of {name}"
            ctx = cmd.make_context(name, list(args), parent=ctx)
            if not isinstance(cmd, TyperGroup):
                return None
            # A group's make_context leaves the subcommand and its arguments for invoke().
            name, sub, args = cmd.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
            assert sub is not None and name is not None
            cmd = sub
    except typer.Exit as done:  # --help or --version in the line itself
        return None if done.exit_code == 0 else f"exit status {done.exit_code}"
    except typer.TyperException as exc:  # typer's click usage errors derive from it
        return exc.format_message()


def test_readme_finds_the_documented_commands() -> None:
    """The extraction itself: continuation lines, substitutions and inline spans."""
    commands = [shlex.split(c, comments=True) for c in readme_commands(README.read_text())]
    assert len(commands) >= 25
    for expected in (
        "tradpal data validate FILE --policy report",  # a comment after it
        "tradpal token --scope admin",  # inside $(...)
        "tradpal up --help",  # an inline code span
        "tradpal discover --strategy confluence --method genetic --population 50 "
        "--generations 20 --objective sharpe --walk-forward",  # a line continued with `\`
    ):
        assert expected.split() in commands
    sample = (
        "```bash\nx=$(tradpal token)  # tradpal up\ntradpal data list \\\n  --x\n```\n`tradpal`"
    )
    assert readme_commands(sample) == ["tradpal token", "tradpal up", "tradpal data list    --x"]


@pytest.mark.parametrize("command", readme_commands(README.read_text()))
def test_every_readme_command_exists_with_its_options(command: str, capsys) -> None:
    problem = command_problem(command)
    assert problem is None, f"README: `{command}`: {problem}"
    # Only now is appending --help safe: an option left without its value would take
    # "--help" as the value and run the command (`tradpal up --webhook --help` starts it).
    args = shlex.split(command, comments=True)[1:]
    assert run([*args, "--help"]) == 0, capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        ("tradpal data validate FILE --polcy report", "No such option: --polcy"),
        ("tradpal data validat FILE", "No such command 'validat'"),
        ("tradpal dta list", "No such command 'dta'"),
        ("tradpal data validate FILE --policy bogus", "'bogus' is not one of"),
        ("tradpal data list extra", "unexpected extra argument(s) (extra)"),
        ("tradpal data sample --bars many", "Invalid value for '--bars'"),
        ("tradpal up --webhook", "Option '--webhook' requires an argument"),
        ("tradpal data download --symbol BTC/USDT", "Missing option '--start'"),
        ("tradpal data", "names no command of data"),
    ],
)
def test_a_wrong_command_line_is_caught(command: str, problem: str) -> None:
    found = command_problem(command)
    assert found is not None and problem in found, found


def test_a_misspelt_flag_in_a_readme_block_fails() -> None:
    wrong = "```bash\ntradpal data list\ntradpal data validate FILE \\\n    --polcy report\n```\n"
    problems = [command_problem(c) for c in readme_commands(wrong)]
    assert problems[0] is None and "No such option: --polcy" in str(problems[1])


def test_help_alone_misses_what_the_parse_catches(capsys) -> None:
    """Why the test parses: click does refuse an unknown option placed before --help, but
    --help is eager, so a bad value or an extra argument before it goes unnoticed."""
    assert run(["data", "validate", "FILE", "--polcy", "report", "--help"]) == 2
    assert run(["data", "validate", "FILE", "--policy", "bogus", "--help"]) == 0
    assert run(["data", "list", "extra", "--help"]) == 0
    capsys.readouterr()
    assert command_problem("tradpal data validate FILE --policy bogus") is not None
    assert command_problem("tradpal data list extra") is not None
