"""Every log call's format is a plain string literal, so untrusted text can only be a field."""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator

from twisted.trial.unittest import SynchronousTestCase

import tbgpool

#: Logger methods whose first argument is a PEP 3101 format string.
LOG_METHODS = frozenset({"debug", "info", "warn", "warning", "error", "critical", "failure"})
#: Names a Logger goes by here: ``log``/``_log`` alone or as an attribute (``self._log``).
LOGGER_NAMES = frozenset({"log", "_log"})

PACKAGE_DIR = os.path.dirname(os.path.abspath(tbgpool.__file__))


def _is_logger(node: ast.expr) -> bool:
    """``log``, ``_log`` or ``<anything>.log`` / ``<anything>._log``."""
    if isinstance(node, ast.Name):
        return node.id in LOGGER_NAMES
    if isinstance(node, ast.Attribute):
        return node.attr in LOGGER_NAMES
    return False


def _format_argument(call: ast.Call) -> ast.expr | None:
    """The format: the first positional argument, else the ``format=`` keyword."""
    if call.args:
        return call.args[0]
    for keyword in call.keywords:
        if keyword.arg == "format":
            return keyword.value
    return None


def _why_not_literal(node: ast.expr | None) -> str | None:
    """Why ``node`` is not a plain string literal, or None if it is one."""
    if node is None:
        return "no format string"
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return None
    if isinstance(node, ast.JoinedStr):
        return "f-string"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return "% formatting"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return "+ concatenation"
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"):
        return ".format() call"
    if isinstance(node, ast.Starred):
        return "*args"
    return f"not a string literal ({type(node).__name__})"


def offending_log_calls(source: str, filename: str) -> Iterator[str]:
    """``filename:line: method: why`` for each log call in ``source`` without a literal format."""
    tree = ast.parse(source, filename)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in LOG_METHODS and _is_logger(node.func.value)):
            why = _why_not_literal(_format_argument(node))
            if why is not None:
                yield f"{filename}:{node.lineno}: {node.func.attr}: {why}"


def package_modules() -> Iterator[str]:
    """Every .py file under tbgpool/, sorted."""
    for directory, subdirectories, files in os.walk(PACKAGE_DIR):
        subdirectories[:] = sorted(d for d in subdirectories if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                yield os.path.join(directory, name)


class ScannerTests(SynchronousTestCase):
    """The scanner itself tells literal formats from built ones."""

    def _offences(self, source: str) -> list[str]:
        return list(offending_log_calls(source, "example.py"))

    def test_literals_pass(self) -> None:
        """literal formats, implicit concatenation and format= keywords are accepted"""
        source = (
            'self._log.info("share from {worker}", worker=w)\n'
            '_log.warn("a " "b {x}", x=1)\n'
            'log.error(format="node {n} down", n=n)\n'
            'pool._log.failure("submit failed", f)\n'
            'self.log.debug("{peer} said hi", peer=p)\n'
            'self._log.msg(f"not a level method {w}")\n'
            'other.info(f"not a logger {w}")\n'
        )
        self.assertEqual(self._offences(source), [])

    def test_built_formats_found(self) -> None:
        """f-strings, %, +, .format(), variables and missing formats are each reported"""
        source = (
            'self._log.info(f"share from {worker}")\n'
            'self._log.warn("from %s" % worker)\n'
            'log.error("from " + worker)\n'
            'pool._log.critical("from {}".format(worker))\n'
            '_log.warning(message)\n'
            'self._log.failure()\n'
            'self._log.debug(*parts)\n'
        )
        offences = self._offences(source)
        self.assertEqual(
            offences,
            [
                "example.py:1: info: f-string",
                "example.py:2: warn: % formatting",
                "example.py:3: error: + concatenation",
                "example.py:4: critical: .format() call",
                "example.py:5: warning: not a string literal (Name)",
                "example.py:6: failure: no format string",
                "example.py:7: debug: *args",
            ],
        )

    def test_package_is_scanned(self) -> None:
        """the scan covers the package's modules, nested packages included"""
        modules = [os.path.relpath(path, PACKAGE_DIR) for path in package_modules()]
        self.assertIn("pool.py", modules)
        self.assertIn(os.path.join("stratum", "session.py"), modules)


class PackageHygieneTests(SynchronousTestCase):
    """No module under tbgpool/ builds a log format from values."""

    def test_every_log_format_is_a_literal(self) -> None:
        """every debug/info/warn/warning/error/critical/failure call has a literal format"""
        offences: list[str] = []
        for path in package_modules():
            with open(path, encoding="utf-8") as source:
                offences.extend(
                    offending_log_calls(source.read(), os.path.relpath(path, PACKAGE_DIR))
                )
        self.assertEqual(offences, [], "log formats must be literals:\n" + "\n".join(offences))
