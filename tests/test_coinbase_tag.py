"""The coinbase-signature validator: printable ASCII, 1..73 characters, no edge spaces."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tbgpool.coinbase_tag import MAX_COINBASE_TAG_CHARS, validate_coinbase_tag


class AcceptTests(SynchronousTestCase):
    """What a valid tag looks like, and what it becomes."""

    def test_plain_tag_returns_ascii_bytes(self) -> None:
        """a plain tag comes back as exactly its ASCII bytes"""
        self.assertEqual(validate_coinbase_tag("Mined by alice"), b"Mined by alice")

    def test_every_printable_character(self) -> None:
        """every character from 0x21 to 0x7e is accepted, quotes and backslashes included"""
        printable = "".join(chr(c) for c in range(0x21, 0x7F))
        for start in range(0, len(printable), MAX_COINBASE_TAG_CHARS):
            chunk = printable[start : start + MAX_COINBASE_TAG_CHARS]
            self.assertEqual(validate_coinbase_tag(chunk), chunk.encode("ascii"))

    def test_inner_spaces(self) -> None:
        """spaces inside the tag are fine"""
        self.assertEqual(validate_coinbase_tag("a  b c"), b"a  b c")

    def test_one_and_max_length(self) -> None:
        """1 and 73 characters are the bounds, both accepted"""
        self.assertEqual(validate_coinbase_tag("x"), b"x")
        self.assertEqual(validate_coinbase_tag("x" * 73), b"x" * 73)

    def test_bytes_input(self) -> None:
        """ASCII bytes (as a cache may return them) are accepted like text"""
        self.assertEqual(validate_coinbase_tag(b"/solo/"), b"/solo/")
        self.assertEqual(validate_coinbase_tag(bytearray(b"/solo/")), b"/solo/")


class RejectTests(SynchronousTestCase):
    """Everything else raises ValueError with a message that never echoes the tag."""

    def assertRejected(self, value: object, fragment: str) -> str:
        """``value`` is refused with a message containing ``fragment``; returns the message."""
        with self.assertRaises(ValueError) as caught:
            validate_coinbase_tag(value)
        message = str(caught.exception)
        self.assertIn(fragment, message)
        self.assertTrue(all(" " <= c <= "~" for c in message), message)
        return message

    def test_empty(self) -> None:
        """an empty tag is refused"""
        self.assertRejected("", "empty")

    def test_too_long(self) -> None:
        """74 characters is one too many"""
        self.assertRejected("x" * 74, "too long (74 characters, at most 73)")

    def test_leading_and_trailing_space(self) -> None:
        """a leading or trailing space is refused; so is a tag of only spaces"""
        self.assertRejected(" tag", "start or end with a space")
        self.assertRejected("tag ", "start or end with a space")
        self.assertRejected(" ", "start or end with a space")

    def test_control_characters(self) -> None:
        """newline, CR, tab, NUL and ESC are refused, naming the code point and position"""
        for char in "\n\r\t\x00\x1b":
            message = self.assertRejected(f"ab{char}cd", "control character")
            self.assertIn(f"U+{ord(char):04X}", message)
            self.assertIn("position 2", message)

    def test_delete(self) -> None:
        """DEL (0x7f) is refused"""
        self.assertRejected("ab\x7f", "DEL (U+007F)")

    def test_non_ascii(self) -> None:
        """accented letters, emoji, bidi overrides and fullwidth forms are refused"""
        for text in ("caf\u00e9", "\U0001f600", "a\u202eb", "\uff21"):
            self.assertRejected(text, "non-ASCII character")

    def test_lone_surrogate(self) -> None:
        """a lone surrogate (from a \\ud800 JSON escape) is refused, not an encode crash"""
        self.assertRejected("a\ud800", "lone surrogate (U+D800)")

    def test_non_ascii_bytes(self) -> None:
        """bytes that are not ASCII are refused, naming the byte and position"""
        self.assertRejected(b"ok\xc3\xa9", "non-ASCII byte (0xc3) at position 2")

    def test_wrong_types(self) -> None:
        """None, numbers, lists and memoryviews are refused with the type's name"""
        for value, name in ((None, "NoneType"), (7, "int"), (["a"], "list"),
                            (memoryview(b"a"), "memoryview"), (True, "bool")):
            self.assertRejected(value, f"not {name}")

    def test_message_never_echoes_the_tag(self) -> None:
        """an injection attempt is not repeated in the error message"""
        message = self.assertRejected("ok\n[CRIT] pool hacked", "control character")
        self.assertNotIn("hacked", message)
