"""The SHA-256 extension module is built hardened (spec section 2.2.1), and the C compiles cleanly.

The built module is read with a small ELF reader written here, so these checks need
no tools; readelf, when present, is asked to confirm them. The reader's checks are
themselves shown to fail on a shared object linked without the hardening flags.
"""

from __future__ import annotations

import importlib
import os
import platform
import re
import shutil
import struct
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from tbgpool import _sha256_build

_PROJECT_ROOT = Path(__file__).resolve().parent.parent
_SOURCE_DIR = _PROJECT_ROOT / _sha256_build.SOURCE_DIR
_COMPILE_TIMEOUT_S = 120

# ELF constants (System V gABI and the GNU extensions).
_ET_DYN = 3
_PT_DYNAMIC = 2
_PT_GNU_STACK = 0x6474E551
_PT_GNU_RELRO = 0x6474E552
_PF_X, _PF_W, _PF_R = 1, 2, 4
_DT_NULL = 0
_DT_TEXTREL = 22
_DT_BIND_NOW = 24
_DT_FLAGS = 30
_DT_FLAGS_1 = 0x6FFFFFFB
_DF_TEXTREL = 0x4
_DF_BIND_NOW = 0x8
_DF_1_NOW = 0x1
_SHT_DYNSYM = 11
_SHN_UNDEF = 0

_STACK_PROTECTOR_SYMBOLS = frozenset({"__stack_chk_fail", "__stack_chk_guard"})
# glibc's fortified variants: __memcpy_chk, __sprintf_chk, ... (not the stack guard).
_FORTIFIED_SYMBOL = re.compile(r"^__\w+_chk$")

# The spec's flags, as the compiler and the linker must see them.
_SPEC_COMPILE_FLAGS = (
    "-fstack-protector-strong",
    "-D_FORTIFY_SOURCE=2",
    "-Wformat",
    "-Wformat-security",
    "-fPIC",
)
_SPEC_LINKER_Z_OPTIONS = ("relro", "now", "noexecstack")
# Flags that would quietly undo one of the above if they followed it.
_UNDOING_COMPILE_FLAGS = frozenset(
    {
        "-U_FORTIFY_SOURCE",
        "-D_FORTIFY_SOURCE=0",
        "-D_FORTIFY_SOURCE=1",
        "-fno-stack-protector",
        "-fno-PIC",
        "-fno-pic",
        "-Wno-format",
        "-Wno-format-security",
        "-O0",
    }
)
_UNDOING_LINKER_Z_OPTIONS = frozenset({"norelro", "lazy", "execstack", "notext", "textoff"})

# A small library with a char array on the stack (stack protector) and a memcpy of
# unknown length into it (FORTIFY turns it into __memcpy_chk).
_PROBE_SOURCE = r"""
#include <stddef.h>
#include <string.h>

int tbg_probe_data = 1;

int tbg_probe_copy(const char *text, size_t len)
{
    char local[64];

    memcpy(local, text, len);
    return local[0] + tbg_probe_data;
}

#ifdef TBG_PROBE_TEXTREL
/* An absolute address of a preemptible symbol inside .text: a text relocation. */
__asm__(".pushsection .text\n.balign 8\n.quad tbg_probe_data\n.popsection");
#endif
"""

_FORTIFY_LEVEL_PROBE = r"""
#include <string.h>
#if !defined(__USE_FORTIFY_LEVEL) || __USE_FORTIFY_LEVEL < 2
#error "_FORTIFY_SOURCE level 2 is not in effect with these flags"
#endif
int tbg_fortify_probe(void) { return 0; }
"""

# The same compiler for the other 64-bit architecture we ship a transform for.
_CROSS_COMPILERS = {
    "x86_64": "aarch64-linux-gnu-gcc",
    "AMD64": "aarch64-linux-gnu-gcc",
    "aarch64": "x86_64-linux-gnu-gcc",
    "arm64": "x86_64-linux-gnu-gcc",
}


@dataclass(frozen=True)
class _ElfImage:
    """What the hardening checks need from an ELF file."""

    object_type: int
    segments: tuple[tuple[int, int], ...]
    """(p_type, p_flags) of each program header."""
    dynamic: tuple[tuple[int, int], ...]
    """(d_tag, d_val) of each dynamic entry before DT_NULL."""
    undefined_symbols: frozenset[str]
    """Names the dynamic symbol table references from other objects."""

    def dynamic_value(self, tag: int) -> int | None:
        """The value of the first dynamic entry ``tag``, or None if absent."""
        for entry_tag, value in self.dynamic:
            if entry_tag == tag:
                return value
        return None


def _read_elf(path: Path) -> _ElfImage:
    """Parse the program headers, dynamic section and dynamic symbols of ``path``."""
    data = path.read_bytes()
    # e_ident: the magic, then the class (1: 32-bit, 2: 64-bit) and byte order (1: LE, 2: BE).
    if data[:4] != b"\x7fELF" or len(data) < 6 or data[4] not in (1, 2) or data[5] not in (1, 2):
        raise ValueError(f"{path} is not an ELF file")
    is_64 = data[4] == 2
    order = "<" if data[5] == 1 else ">"
    try:
        return _parse_elf(data, is_64, order)
    except (struct.error, IndexError, ValueError) as error:
        raise ValueError(f"{path} is a truncated or malformed ELF file: {error}") from error


def _parse_elf(data: bytes, is_64: bool, order: str) -> _ElfImage:
    """The body of _read_elf, once the class and byte order are known."""
    header = struct.unpack_from(order + ("HHIQQQIHHHHHH" if is_64 else "HHIIIIIHHHHHH"), data, 16)
    object_type, phoff, shoff = header[0], header[4], header[5]
    phentsize, phnum, shentsize, shnum = header[8], header[9], header[10], header[11]

    segments: list[tuple[int, int]] = []
    dynamic_offset = dynamic_size = 0
    for index in range(phnum):
        fields = struct.unpack_from(
            order + ("IIQQQQQQ" if is_64 else "IIIIIIII"), data, phoff + index * phentsize
        )
        if is_64:
            p_type, p_flags, p_offset, p_filesz = fields[0], fields[1], fields[2], fields[5]
        else:
            p_type, p_offset, p_filesz, p_flags = fields[0], fields[1], fields[4], fields[6]
        segments.append((p_type, p_flags))
        if p_type == _PT_DYNAMIC:
            dynamic_offset, dynamic_size = p_offset, p_filesz

    dynamic: list[tuple[int, int]] = []
    entry_format = order + ("qQ" if is_64 else "iI")
    entry_size = struct.calcsize(entry_format)
    for position in range(
        dynamic_offset, dynamic_offset + dynamic_size - entry_size + 1, entry_size
    ):
        tag, value = struct.unpack_from(entry_format, data, position)
        if tag == _DT_NULL:
            break
        dynamic.append((tag, value))

    # Section fields: name, type, flags, addr, offset, size, link, info, addralign, entsize.
    section_format = order + ("IIQQQQIIQQ" if is_64 else "IIIIIIIIII")
    sections = [
        struct.unpack_from(section_format, data, shoff + index * shentsize)
        for index in range(shnum)
    ]
    symbol_format = order + ("IBBHQQ" if is_64 else "IIIBBH")
    symbol_size = struct.calcsize(symbol_format)
    undefined: set[str] = set()
    for section in sections:
        if section[1] != _SHT_DYNSYM:
            continue
        strings = sections[section[6]]
        strings_start, strings_end = strings[4], strings[4] + strings[5]
        for position in range(section[4], section[4] + section[5], symbol_size):
            fields = struct.unpack_from(symbol_format, data, position)
            name_offset, section_index = fields[0], (fields[3] if is_64 else fields[5])
            if section_index != _SHN_UNDEF or name_offset == 0:
                continue
            name_start = strings_start + name_offset
            name_end = data.index(b"\0", name_start, strings_end)
            undefined.add(data[name_start:name_end].decode("ascii"))
    return _ElfImage(object_type, tuple(segments), tuple(dynamic), frozenset(undefined))


# ---- the hardening properties ------------------------------------------------


def _has_full_relro(image: _ElfImage) -> bool:
    """A GNU_RELRO segment and immediate binding (so the GOT is read-only too)."""
    has_relro_segment = any(p_type == _PT_GNU_RELRO for p_type, _ in image.segments)
    flags = image.dynamic_value(_DT_FLAGS) or 0
    flags_1 = image.dynamic_value(_DT_FLAGS_1) or 0
    binds_now = (
        bool(flags & _DF_BIND_NOW)
        or bool(flags_1 & _DF_1_NOW)
        or image.dynamic_value(_DT_BIND_NOW) is not None
    )
    return has_relro_segment and binds_now


def _stack_flags(image: _ElfImage) -> int | None:
    """The PT_GNU_STACK flags, or None when the header is missing (an executable stack)."""
    for p_type, p_flags in image.segments:
        if p_type == _PT_GNU_STACK:
            return p_flags
    return None


def _has_non_executable_stack(image: _ElfImage) -> bool:
    """PT_GNU_STACK is present and exactly read-write."""
    return _stack_flags(image) == _PF_R | _PF_W


def _has_stack_protector(image: _ElfImage) -> bool:
    """The object calls the stack-protector failure handler (or reads the guard)."""
    return bool(image.undefined_symbols & _STACK_PROTECTOR_SYMBOLS)


def _fortified_symbols(image: _ElfImage) -> set[str]:
    """The glibc ``__*_chk`` functions the object calls."""
    return {
        name
        for name in image.undefined_symbols - _STACK_PROTECTOR_SYMBOLS
        if _FORTIFIED_SYMBOL.match(name)
    }


def _has_no_text_relocations(image: _ElfImage) -> bool:
    """Neither DT_TEXTREL nor DF_TEXTREL: the code pages never need to be made writable."""
    flags = image.dynamic_value(_DT_FLAGS) or 0
    return image.dynamic_value(_DT_TEXTREL) is None and not flags & _DF_TEXTREL


# ---- helpers -------------------------------------------------------------------


def _extension_path() -> Path:
    """The file Python loads as tbgpool._sha256."""
    module = importlib.import_module("tbgpool._sha256")
    return Path(str(module.__file__))


def _builder_kwargs(builder: Any) -> dict[str, Any]:
    """The keyword arguments a cffi builder was given by set_source."""
    # cffi keeps set_source's arguments as (module_name, source, source_extension, kwds).
    assigned = getattr(builder, "_assigned_source", None)
    if assigned is None or len(assigned) != 4:
        raise AssertionError("cannot read the cffi builder's set_source arguments")
    kwargs: dict[str, Any] = assigned[3]
    return kwargs


def _linker_z_options(link_args: Sequence[str]) -> list[str]:
    """The ``-z`` keywords passed through ``-Wl,...`` arguments, in order."""
    linker_words = [
        word for arg in link_args if arg.startswith("-Wl,") for word in arg.split(",")[1:]
    ]
    options = []
    for index, word in enumerate(linker_words):
        if word == "-z" and index + 1 < len(linker_words):
            options.append(linker_words[index + 1])
        elif word.startswith("-z") and len(word) > 2:
            options.append(word[2:])
    return options


class _ToolTestCase(SynchronousTestCase):
    """Base for tests that run a compiler or readelf: skip without it, unless on CI."""

    def require_tool(self, *names: str) -> str:
        """Path of the first of ``names`` on PATH; skip (or fail when env CI is set) if none."""
        for name in names:
            found = shutil.which(name)
            if found is not None:
                return found
        message = f"needs one of {', '.join(names)} on PATH"
        if os.environ.get("CI"):
            self.fail(message + " (CI is set, so this is a failure, not a skip)")
        raise self.skipTest(message)

    def run_tool(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the C locale, capturing text output."""
        return subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=_COMPILE_TIMEOUT_S,
            env={**os.environ, "LC_ALL": "C"},
        )

    def build_probe(self, compile_args: Sequence[str], link_args: Sequence[str]) -> Path:
        """Compile and link _PROBE_SOURCE into a shared object with exactly these flags."""
        cc = self.require_tool("cc", "gcc", "clang")
        workdir = Path(self.mktemp())
        workdir.mkdir(parents=True)
        source = workdir / "probe.c"
        source.write_text(_PROBE_SOURCE)
        library = workdir / "libprobe.so"
        result = self.run_tool(
            [cc, *compile_args, "-shared", "-o", str(library), str(source), *link_args]
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        return library


# ---- the tests -------------------------------------------------------------------


class ExtensionModuleHardeningTests(SynchronousTestCase):
    """The built tbgpool._sha256 shared object carries every spec hardening property."""

    def setUp(self) -> None:
        """Read the ELF file Python actually loads for tbgpool._sha256."""
        self.path = _extension_path()
        self.image = _read_elf(self.path)

    def test_is_a_shared_object(self) -> None:
        """The module is an ET_DYN shared object, position-independent as -fPIC makes it."""
        self.assertEqual(self.image.object_type, _ET_DYN, str(self.path))

    def test_full_relro(self) -> None:
        """The module has a GNU_RELRO segment and BIND_NOW (DT_FLAGS) or NOW (DT_FLAGS_1)."""
        self.assertIn(_PT_GNU_RELRO, [p_type for p_type, _ in self.image.segments], str(self.path))
        self.assertTrue(_has_full_relro(self.image), f"{self.path}: relro without bind-now")

    def test_non_executable_stack(self) -> None:
        """The module's PT_GNU_STACK header is present with flags RW and without E."""
        flags = _stack_flags(self.image)
        self.assertIsNotNone(flags, f"{self.path} has no PT_GNU_STACK header")
        self.assertFalse(flags is not None and flags & _PF_X, f"{self.path}: executable stack")
        self.assertTrue(_has_non_executable_stack(self.image), f"{self.path}: stack flags {flags}")

    def test_stack_protector(self) -> None:
        """The module references __stack_chk_fail or __stack_chk_guard."""
        self.assertTrue(
            _has_stack_protector(self.image),
            f"{self.path} references neither __stack_chk_fail nor __stack_chk_guard",
        )

    def test_fortify_source(self) -> None:
        """The module calls at least one fortified __*_chk function (FORTIFY_SOURCE in effect).

        In this code the optimiser leaves __memcpy_chk in tbg_sha256_ctx_final (the
        buffered tail, a length known only at run time, copied into a fixed-size array);
        FortifyProbeTests also proves FORTIFY is on for the builder's flags whatever
        this code happens to call.
        """
        self.assertTrue(
            _fortified_symbols(self.image),
            f"{self.path} calls no __*_chk function: {sorted(self.image.undefined_symbols)}",
        )

    def test_no_text_relocations(self) -> None:
        """The module has no DT_TEXTREL entry and no DF_TEXTREL flag."""
        self.assertTrue(_has_no_text_relocations(self.image), f"{self.path} has text relocations")


class ReadelfConfirmationTests(_ToolTestCase):
    """readelf (binutils) reports the same hardening as the ELF reader above."""

    def test_readelf_confirms_hardening(self) -> None:
        """readelf shows GNU_RELRO, BIND_NOW, an RW GNU_STACK, stack-protector and __*_chk symbols, no TEXTREL."""
        readelf = self.require_tool("readelf", "llvm-readelf")
        path = str(_extension_path())
        headers = self.run_tool([readelf, "-lW", path])
        dynamic = self.run_tool([readelf, "-dW", path])
        symbols = self.run_tool([readelf, "--dyn-syms", "-W", path])
        for result in (headers, dynamic, symbols):
            self.assertEqual(result.returncode, 0, result.stderr)

        self.assertRegex(headers.stdout, r"(?m)^\s*GNU_RELRO\s")
        stack_lines = [line.split() for line in headers.stdout.splitlines()]
        stack_lines = [fields for fields in stack_lines if fields[:1] == ["GNU_STACK"]]
        self.assertEqual(len(stack_lines), 1, headers.stdout)
        # GNU_STACK offset vaddr paddr filesz memsz FLAGS... align
        self.assertEqual("".join(stack_lines[0][6:-1]), "RW", headers.stdout)

        self.assertRegex(dynamic.stdout, r"\(FLAGS\)\s.*\bBIND_NOW\b|\(FLAGS_1\)\s.*\bNOW\b")
        self.assertNotIn("TEXTREL", dynamic.stdout)

        names = set(re.findall(r"\b(__\w+?)(?:@\S+)?\s*(?:\(\d+\))?\s*$", symbols.stdout, re.M))
        self.assertTrue(names & _STACK_PROTECTOR_SYMBOLS, symbols.stdout)
        self.assertTrue(
            {name for name in names - _STACK_PROTECTOR_SYMBOLS if _FORTIFIED_SYMBOL.match(name)},
            symbols.stdout,
        )


class BuildFlagTests(SynchronousTestCase):
    """tbgpool/_sha256_build.py gives the compiler and linker every spec flag, undone by none."""

    def setUp(self) -> None:
        """The arguments the module-level builder (the one setup.py uses) passes on."""
        kwargs = _builder_kwargs(_sha256_build.ffibuilder)
        self.compile_args: list[str] = list(kwargs["extra_compile_args"])
        self.link_args: list[str] = list(kwargs["extra_link_args"])

    def test_compile_args_include_every_spec_flag(self) -> None:
        """-fstack-protector-strong, -D_FORTIFY_SOURCE=2, -Wformat, -Wformat-security and -fPIC are passed."""
        for flag in _SPEC_COMPILE_FLAGS:
            self.assertIn(flag, self.compile_args)
        self.assertEqual(
            [
                flag
                for flag in _SPEC_COMPILE_FLAGS
                if flag not in _sha256_build.HARDENING_COMPILE_ARGS
            ],
            [],
        )

    def test_link_args_include_every_spec_flag(self) -> None:
        """The linker gets -z relro, -z now and -z noexecstack."""
        z_options = _linker_z_options(self.link_args)
        for option in _SPEC_LINKER_Z_OPTIONS:
            self.assertIn(option, z_options, self.link_args)

    def test_no_flag_undoes_the_hardening(self) -> None:
        """No argument disables a spec flag, and optimisation (which FORTIFY needs) is on."""
        self.assertEqual(sorted(_UNDOING_COMPILE_FLAGS.intersection(self.compile_args)), [])
        self.assertEqual(
            sorted(_UNDOING_LINKER_Z_OPTIONS.intersection(_linker_z_options(self.link_args))), []
        )
        optimisation = [arg for arg in self.compile_args if re.fullmatch(r"-O\w*", arg)]
        self.assertTrue(optimisation, "no -O flag: _FORTIFY_SOURCE would do nothing")
        self.assertNotEqual(optimisation[-1], "-O0")
        protector = [arg for arg in self.compile_args if arg.startswith("-fstack-protector")]
        self.assertIn(protector[-1], ("-fstack-protector-strong", "-fstack-protector-all"))

    def test_linker_reader_sees_each_spelling(self) -> None:
        """The -z reader finds options combined in one -Wl, split across several, or glued."""
        self.assertEqual(
            _linker_z_options(["-Wl,-z,relro,-z,now", "-Wl,-znoexecstack", "-lm"]),
            ["relro", "now", "noexecstack"],
        )
        self.assertEqual(_linker_z_options(["-Wl,-z,relro"]), ["relro"])

    def test_make_builder_appends_extra_flags_last(self) -> None:
        """make_builder keeps every normal flag and puts the extra ones after, so they win."""
        builder = _sha256_build.make_builder(
            extra_compile_args=["-O1", "-fsanitize=address"], extra_link_args=["-fsanitize=address"]
        )
        kwargs = _builder_kwargs(builder)
        self.assertEqual(
            kwargs["extra_compile_args"], [*self.compile_args, "-O1", "-fsanitize=address"]
        )
        self.assertEqual(kwargs["extra_link_args"], [*self.link_args, "-fsanitize=address"])


class WarningFreeBuildTests(_ToolTestCase):
    """Every C source compiles with -Wall -Wextra -Wformat-security -Werror and the build flags."""

    def _compile_each(self, cc: str) -> list[str]:
        """Compile each source to an object with ``cc``; the diagnostics of those that fail."""
        workdir = Path(self.mktemp())
        workdir.mkdir(parents=True)
        flags = [
            *_sha256_build.COMPILE_ARGS,
            "-Wall",
            "-Wextra",
            "-Wformat-security",
            "-Werror",
            f"-I{_SOURCE_DIR}",
        ]
        sources = sorted(_SOURCE_DIR.glob("*.c"))
        self.assertEqual(
            {source.name for source in sources},
            {Path(path).name for path in _sha256_build.SOURCES},
            "a C file in tbgpool/_sha256 is not in the build, or the reverse",
        )
        problems = []
        for source in sources:
            result = self.run_tool(
                [cc, *flags, "-c", str(source), "-o", str(workdir / f"{source.stem}.o")]
            )
            if result.returncode != 0 or result.stderr.strip():
                problems.append(f"{source.name}:\n{result.stderr}")
        return problems

    def test_native_build_has_no_warnings(self) -> None:
        """The system compiler reports nothing for any source (the other ISA's file is empty here)."""
        cc = self.require_tool("cc", "gcc", "clang")
        self.assertEqual(self._compile_each(cc), [])

    def test_cross_build_has_no_warnings(self) -> None:
        """The other architecture's transform compiles cleanly too, when its cross compiler exists."""
        cross_cc = _CROSS_COMPILERS.get(platform.machine())
        if cross_cc is None or shutil.which(cross_cc) is None:
            raise self.skipTest(
                f"needs a cross compiler ({cross_cc or 'none known for this host'})"
            )
        self.assertEqual(self._compile_each(cross_cc), [])


class FortifyProbeTests(_ToolTestCase):
    """The builder's flags turn FORTIFY_SOURCE on, whatever the module's code happens to call."""

    def test_fortify_level_with_builder_flags(self) -> None:
        """Compiling a probe with the builder's flags sees glibc's __USE_FORTIFY_LEVEL >= 2."""
        if platform.libc_ver()[0] != "glibc":
            raise self.skipTest("__USE_FORTIFY_LEVEL is glibc's")
        cc = self.require_tool("cc", "gcc", "clang")
        workdir = Path(self.mktemp())
        workdir.mkdir(parents=True)
        probe = workdir / "fortify_probe.c"
        probe.write_text(_FORTIFY_LEVEL_PROBE)
        result = self.run_tool(
            [cc, *_sha256_build.COMPILE_ARGS, "-c", str(probe), "-o", str(workdir / "probe.o")]
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        without_optimisation = [
            arg for arg in _sha256_build.COMPILE_ARGS if not arg.startswith("-O")
        ]
        result = self.run_tool(
            [cc, *without_optimisation, "-O0", "-c", str(probe), "-o", str(workdir / "probe.o")]
        )
        self.assertNotEqual(result.returncode, 0, "the probe cannot tell FORTIFY on from off")


class CheckerSanityTests(_ToolTestCase):
    """The checks above pass on a probe built with the builder's flags and fail on one built without."""

    def test_checks_pass_with_builder_flags(self) -> None:
        """A probe library compiled and linked with the builder's flags passes every check."""
        library = self.build_probe(_sha256_build.COMPILE_ARGS, _sha256_build.HARDENING_LINK_ARGS)
        image = _read_elf(library)
        self.assertEqual(image.object_type, _ET_DYN)
        self.assertTrue(_has_full_relro(image))
        self.assertTrue(_has_non_executable_stack(image))
        self.assertTrue(_has_stack_protector(image))
        self.assertIn("__memcpy_chk", _fortified_symbols(image))
        self.assertTrue(_has_no_text_relocations(image))

    def test_checks_fail_without_hardening(self) -> None:
        """A probe built with each protection switched off fails every check."""
        weak_compile = [
            "-O2", "-fPIC", "-fno-stack-protector", "-U_FORTIFY_SOURCE", "-DTBG_PROBE_TEXTREL",
        ]  # fmt: skip
        # Recent binutils warn about the executable stack and the text relocation; only
        # the exit status matters here.
        weak_link = ["-Wl,-z,norelro", "-Wl,-z,lazy", "-Wl,-z,execstack", "-Wl,-z,notext"]
        library = self.build_probe(weak_compile, weak_link)
        image = _read_elf(library)
        self.assertFalse(_has_full_relro(image))
        self.assertFalse(_has_non_executable_stack(image))
        self.assertFalse(_has_stack_protector(image))
        self.assertEqual(_fortified_symbols(image), set())
        self.assertFalse(_has_no_text_relocations(image))

    def test_reader_rejects_non_elf(self) -> None:
        """Reading something that is not an ELF file is a ValueError, not a struct error."""
        path = Path(self.mktemp())
        path.write_bytes(b"#!/bin/sh\nexit 0\n")
        self.assertRaises(ValueError, _read_elf, path)
        path.write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 20)
        self.assertRaises(ValueError, _read_elf, path)
