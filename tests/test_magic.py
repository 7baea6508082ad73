"""The %asha / %%asha magic, driven through a real IPython InteractiveShell."""

from __future__ import annotations

import ast
import re
import threading
from pathlib import Path

import pytest
from _polling import until as _until
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from asha_nb.runtime import Search

SETUP = """
from asha_nb import space as _sp
def train(config, resource):
    if not JOBS.acquire(timeout=30):  # a test that steers a search lets each job end
        raise TimeoutError("the test never let this job end")
    return -(config["lr"] - 0.1) ** 2 - 1.0 / resource
space = {"lr": _sp.uniform(0.0, 1.0), "opt": _sp.choice(["adam", "sgd"])}
"""


@pytest.fixture
def ip():
    shell = InteractiveShell.instance()
    shell.reset(new_session=False)  # no names left by another test (the space lookup scans them)
    shell.run_line_magic("load_ext", "asha_nb")
    shell.user_ns["JOBS"] = threading.Semaphore(10**6)  # jobs end at once
    assert shell.run_cell(SETUP).success
    yield shell
    jobs = shell.user_ns.get("JOBS")
    if isinstance(jobs, threading.Semaphore):
        jobs.release(10**6)  # no job left waiting for the test
    for _name, obj in list(shell.user_ns.items()):
        if isinstance(obj, Search) and obj.state in ("running", "paused", "created"):
            try:
                obj.stop()
            except Exception:
                pass
    for name in ("search", "s", "s2", "train", "space", "JOBS", "OFFSET", "other", "sp",
                 "sp_a", "sp_b", "alias", "objective", "asha_nb"):
        shell.user_ns.pop(name, None)


def test_load_ext_registers_line_and_cell_magic(ip):
    magics = ip.magics_manager.magics
    assert "asha" in magics["line"] and "asha" in magics["cell"]
    ip.run_line_magic("unload_ext", "asha_nb")
    assert "asha" not in ip.magics_manager.magics["line"]
    ip.run_line_magic("load_ext", "asha_nb")
    assert "asha" in ip.magics_manager.magics["line"]


def test_line_magic_start_and_steer(ip):
    jobs = ip.user_ns["JOBS"] = threading.Semaphore(0)  # a job ends when the test lets it
    out = ip.run_line_magic(
        "asha", "train space --min-resource 1 --max-resource 27 --eta 3 --workers 2 "
                "--max-trials 500 --seed 0 --mode max")
    search = ip.user_ns["search"]
    assert isinstance(search, Search)
    assert search.state == "running"
    assert "search: ASHA running" in str(out)
    assert search.scheduler.max_trials == 500
    assert _until(lambda: search.snapshot().busy_workers == 2)  # trials 0 and 1 wait

    status = ip.run_line_magic("asha", "status")
    assert "running" in status and "workers" in status and "rungs:" in status

    tid = ip.run_line_magic("asha", "add lr=0.1 opt=adam")
    assert isinstance(tid, int)
    jobs.release(2)  # trials 0 and 1 end: the added trial and a new one take the two workers
    assert _until(lambda: (search.results().trial_id == tid).any())
    row = search.results().loc[lambda d: d.trial_id == tid].iloc[0]
    assert (row.config_lr, row.config_opt) == (0.1, "adam")

    msg = ip.run_line_magic("asha", "stop 0")
    assert "stopped trial 0" in msg
    trials = search.trials
    assert trials.loc[trials.trial_id == 0, "status"].iloc[0] == "stopped"

    ip.run_line_magic("asha", "pause")
    assert search.state == "paused"
    ip.run_line_magic("asha", "resume")
    assert search.state == "running"

    ip.run_line_magic("asha", "workers 1")
    assert _until(lambda: search.snapshot().n_workers == 1)

    final = ip.run_line_magic("asha", "stop")
    assert search.state == "stopped"
    assert "stopped" in final

    df = ip.run_line_magic("asha", "results")
    assert len(df) >= 2 and {"trial_id", "rung", "value", "config_lr"} <= set(df.columns)

    with pytest.raises(UsageError, match="stopped"):
        ip.run_line_magic("asha", "pause")  # control on a finished search: short error


def test_line_magic_runs_to_completion_with_name(ip):
    ip.run_line_magic("asha", "train space --max-resource 9 --max-trials 9 --seed 1 --name s2")
    ip.run_line_magic("asha", "wait 30 --name s2")
    s2 = ip.user_ns["s2"]
    assert s2.state == "finished"
    assert "search" not in ip.user_ns
    best = ip.run_line_magic("asha", "best --name s2")
    assert best["resource"] == 9
    n = [r.n_results for r in s2.snapshot().rungs]
    assert n[0] == 9 and n[1] >= 3 and n[2] >= 1  # ASHA may promote a few more than SHA


def test_cell_magic_value_assignment(ip):
    ip.user_ns["OFFSET"] = 10.0
    result = ip.run_cell(
        "%%asha --max-resource 9 --max-trials 9 --seed 0 --name s\n"
        "x = config['lr']\n"
        "value = OFFSET - (x - 0.1) ** 2 - 1.0 / resource\n")
    assert result.success, result.error_in_exec
    s = ip.user_ns["s"]
    assert s.wait(30) and s.state == "finished"
    df = s.results()
    assert len(df) >= 13 and (df.status == "ok").all()  # 9 + 3 + 1, or a few more promotions
    # (ASHA on two workers promotes as results arrive: their order may add a promotion)
    row = df.iloc[0]
    assert row.value == pytest.approx(10.0 - (row.config_lr - 0.1) ** 2 - 1.0 / row.resource)


def test_cell_magic_last_expression_and_space_option(ip):
    ip.run_cell("from asha_nb import space as _sp2\nother = {'z': _sp2.uniform(0, 1)}")
    result = ip.run_cell(
        "%%asha --space other --max-resource 3 --max-trials 3 --seed 0 --mode min\n"
        "config['z'] * resource\n")
    assert result.success, result.error_in_exec
    search = ip.user_ns["search"]
    assert search.wait(30)
    df = search.results()
    assert len(df) > 0
    assert (df.value == df.config_z * df.resource).all()
    assert search.mode == "min"


def test_cell_magic_errors_are_short_usage_errors(ip):
    with pytest.raises(UsageError, match="assign `value`"):
        ip.run_cell_magic("asha", "--max-trials 2", "x = 1\ny = 2\n")
    with pytest.raises(UsageError, match="syntax error"):
        ip.run_cell_magic("asha", "--max-trials 2", "value = (\n")
    with pytest.raises(UsageError, match="options only"):
        ip.run_cell_magic("asha", "train space", "value = 1\n")
    with pytest.raises(UsageError, match="unknown name 'nospace'"):
        ip.run_cell_magic("asha", "--space nospace", "value = 1\n")


@pytest.mark.parametrize(
    "line, match",
    [
        ("trian space", "unknown subcommand or name 'trian'"),
        ("train nospace", "unknown name 'nospace'"),
        ("train space --eta 1", "reduction_factor"),
        ("train space --eta x", "invalid int value"),
        ("train space --bogus 3", "unrecognized arguments"),
        ("train space --mode up", "invalid choice"),
        ("space space", "not callable"),
        ("status", "no search called 'search'"),
        ("train space extra", "too many words"),
    ],
)
def test_bad_input_gives_usage_error(ip, line, match):
    with pytest.raises(UsageError, match=match) as info:
        ip.run_line_magic("asha", line)
    assert "usage: %asha" in str(info.value)
    assert len(str(info.value).splitlines()) <= 4  # short, not a traceback


def test_bad_subcommand_arguments(ip):
    ip.run_line_magic("asha", "train space --max-resource 3 --max-trials 3 --seed 0")
    ip.user_ns["search"].wait(30)
    ip.user_ns["not_a_search"] = 3
    for line, match in [("stop x", "expected an integer"), ("add foo", "KEY=VALUE"),
                        ("add", "KEY=VALUE"), ("status now", "no further words"),
                        ("status --name not_a_search", "not an asha_nb.Search"),
                        ("stop 0", "finished")]:
        with pytest.raises(UsageError, match=match):
            ip.run_line_magic("asha", line)
    ip.user_ns.pop("not_a_search")


def test_usage_error_in_a_cell_is_not_a_traceback(ip, capsys):
    result = ip.run_cell("%asha stauts")
    assert isinstance(result.error_in_exec, UsageError)
    out = capsys.readouterr()
    text = out.out + out.err
    assert "UsageError" in text and "Traceback" not in text


def test_refuses_to_replace_a_running_search(ip):
    ip.user_ns["JOBS"] = threading.Semaphore(0)  # its jobs wait: it is still running
    ip.run_line_magic("asha", "train space --max-trials 200 --seed 0")
    with pytest.raises(UsageError, match="still running"):
        ip.run_line_magic("asha", "train space --max-trials 5")
    ip.run_line_magic("asha", "stop")


def test_add_values_are_literals_or_strings():
    from asha_nb._magic_args import parse_value as _parse_value

    assert _parse_value("0.1") == 0.1
    assert _parse_value("3") == 3 and isinstance(_parse_value("3"), int)
    assert _parse_value("adam") == "adam"
    assert _parse_value("'adam'") == "adam"
    assert _parse_value("[1, 2]") == [1, 2]
    assert _parse_value("True") is True


def test_help_text_has_examples():
    from asha_nb.magic import AshaMagics

    doc = AshaMagics.asha.__doc__
    for needle in ("%load_ext asha_nb", "%asha train space", "%asha status", "%asha stop 3",
                   "%asha add lr=0.05", "%asha pause", "%asha resume", "%asha results",
                   "%%asha --max-resource 27", "value =", "--max-resource", "--eta"):
        assert needle in doc, needle


def test_status_text_displays_without_quotes(ip):
    ip.run_line_magic("asha", "train space --max-resource 3 --max-trials 3 --seed 0")
    out = ip.run_line_magic("asha", "status")
    assert repr(out) == str(out)
    assert not repr(out).startswith("'")


# ------------------------------------------------- the space lookup and the README (issue 10, 14)
README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_blocks(section: str) -> list[str]:
    """The ```python blocks of the README section whose title starts with ``section``."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {section}")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end if end != -1 else None], re.S)


def _definitions(code: str) -> str:
    """The imports and function definitions of a README block (not the search it starts)."""
    keep = [n for n in ast.parse(code).body
            if isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef))]
    return ast.unparse(ast.Module(body=keep, type_ignores=[]))


def test_readme_magic_example_runs_as_written(ip, capsys):
    quickstart = _readme_blocks("Quickstart")[0]
    assert "from asha_nb import space" in quickstart and "def objective" in quickstart
    start, steer, cell = _readme_blocks("The `%asha` magic")
    assert start.startswith("%load_ext asha_nb") and cell.startswith("%%asha")
    assert ip.run_cell(_definitions(quickstart)).success
    import types

    assert isinstance(ip.user_ns["space"], types.ModuleType)  # what broke the old lookup

    result = ip.run_cell(start)
    assert result.success, result.error_in_exec
    s = ip.user_ns["s"]
    assert isinstance(s, Search) and s.state == "running"
    assert set(s.scheduler.space) == {"lr", "layers"}
    # "in later cells, while it runs": trial 3 exists by then
    assert _until(lambda: s.snapshot().n_started >= 4, 30)
    capsys.readouterr()
    result = ip.run_cell(steer)
    assert result.success, result.error_in_exec
    assert "s: stopped trial 3" in capsys.readouterr().out

    result = ip.run_cell(cell)
    assert result.success, result.error_in_exec
    out = capsys.readouterr().out
    assert "search space `sp`" in out and "`space` is the module asha_nb.space" in out
    s2 = ip.user_ns["s2"]
    assert s2.wait(60) and s2.state == "finished"
    df = s2.results()
    assert len(df) >= 20 and (df.status == "ok").all()
    assert {1, 3, 9} <= set(df.resource) <= {1, 3, 9, 27}  # 20 trials: >= 2 reach rung 2
    assert df.config_layers.isin([1, 2, 3]).all()
    expected = 1 - (df.config_lr - 0.1) ** 2 - 1 / df.resource
    assert ((df.value - expected).abs() < 1e-12).all()
    s.stop()


def test_default_space_skips_the_space_module_and_says_what_it_took(ip, capsys):
    ip.run_cell("from asha_nb import space\nsp = {'lr': space.uniform(0, 1)}")
    result = ip.run_cell("%%asha --max-resource 3 --max-trials 3 --seed 0 --text\nconfig['lr']\n")
    assert result.success, result.error_in_exec
    out = capsys.readouterr().out
    assert ("%asha: search space `sp` (the one dict of distributions in the notebook; `space` is "
            "the module asha_nb.space (from `from asha_nb import space`), not a search space; "
            "name another with --space NAME)") in out
    search = ip.user_ns["search"]
    assert search.wait(30) and list(search.scheduler.space) == ["lr"]
    # the line magic without a space word finds it the same way; a second name for the same
    # dict is not a second candidate
    ip.user_ns["alias"] = ip.user_ns["sp"]
    ip.run_line_magic("asha", "train --max-resource 3 --max-trials 3 --seed 0 --name s")
    assert ip.user_ns["s"].wait(30) and list(ip.user_ns["s"].scheduler.space) == ["lr"]


def test_default_space_prefers_a_dict_called_space(ip, capsys):
    ip.run_cell("other = {'z': _sp.uniform(0, 1)}")  # `space` (the fixture's dict) wins
    result = ip.run_cell("%%asha --max-resource 3 --max-trials 3 --seed 0\nconfig['lr']\n")
    assert result.success, result.error_in_exec
    assert "search space" not in capsys.readouterr().out
    assert set(ip.user_ns["search"].scheduler.space) == {"lr", "opt"}


def test_space_lookup_errors_say_what_was_found(ip):
    ip.run_cell("from asha_nb import space")
    with pytest.raises(UsageError, match=r"no search space found: `space` is the module "
                       r"asha_nb.space \(from `from asha_nb import space`\), not a search space, "
                       r"and no other dict of distributions is defined in the notebook; define "
                       r"one, e.g. sp = \{\"lr\": space.loguniform"):
        ip.run_cell_magic("asha", "--max-trials 2", "value = 1\n")
    with pytest.raises(UsageError, match=r"'space' is the module asha_nb.space .*not a search "
                                         r"space \(a dict of distributions\); define one"):
        ip.run_line_magic("asha", "train space --max-trials 2")
    ip.run_cell("sp_a = {'x': space.uniform(0, 1)}\nsp_b = space.Space({'y': space.randint(1, 3)})")
    with pytest.raises(UsageError, match=r"which search space\? the notebook has `sp_a`, `sp_b`: "
                                         r"pick one with --space NAME"):
        ip.run_cell_magic("asha", "--max-trials 2", "value = 1\n")
    with pytest.raises(UsageError, match=r"search spaces in the notebook: `sp_a`, `sp_b`"):
        ip.run_line_magic("asha", "train space --max-trials 2")
    ip.user_ns.pop("sp_b")
    with pytest.raises(UsageError, match=r"'space' is the module asha_nb.space .*did you mean "
                                         r"`sp_a`\?"):
        ip.run_line_magic("asha", "train space --max-trials 2")
    ip.user_ns["space"] = 3
    with pytest.raises(UsageError, match=r"'space' is an int, not a search space"):
        ip.run_cell_magic("asha", "--space space --max-trials 2", "value = 1\n")
    ip.user_ns.pop("space")
    ip.user_ns.pop("sp_a")
    with pytest.raises(UsageError, match=r"no search space found: no variable `space` is defined"):
        ip.run_cell_magic("asha", "--max-trials 2", "value = 1\n")


def test_help_names_search_from_journal():
    from asha_nb.magic import AshaMagics

    doc = AshaMagics.asha.__doc__  # the docstring and the option help
    assert "Search.from_journal" in doc
    assert "Search.resume" not in doc


def test_a_trailing_comment_is_not_an_argument(ip):
    from asha_nb._magic_args import strip_comment as _strip_comment

    assert _strip_comment("status --name s   # state, best") == "status --name s"
    assert _strip_comment("add c=#fff") == "add c=#fff"
    assert _strip_comment("add n='a # b'  # quoted") == "add n='a # b'"
    ip.run_line_magic("asha", "train space --max-resource 3 --max-trials 3 --seed 0  # small")
    assert "trials" in ip.run_line_magic("asha", "wait 30   # until it ends")
    assert ip.user_ns["search"].state == "finished"
