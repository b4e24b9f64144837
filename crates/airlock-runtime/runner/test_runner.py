"""Unit tests of runner.py, run inside an Airlock sandbox with the default environment
(numpy and pandas available) by crates/airlock-cli/tests/runner_py.rs."""

import math
import os
import struct
import tempfile
import unittest

import runner

LIMITS = {"rows": 3, "text": 10, "charts": 2, "chart_bytes": 1000, "files": 2, "file_bytes": 100}


class ToJson(unittest.TestCase):
    def test_plain_values_pass_through(self):
        for value in (None, True, 0, -5, 1.5, "abc"):
            self.assertEqual(runner.to_json(value, LIMITS), value)

    def test_non_finite_floats_become_null_and_huge_ints_strings(self):
        self.assertIsNone(runner.to_json(math.nan, LIMITS))
        self.assertIsNone(runner.to_json(math.inf, LIMITS))
        self.assertEqual(runner.to_json(2**70, LIMITS), str(2**70))

    def test_containers_and_text_are_capped(self):
        self.assertEqual(runner.to_json(list(range(10)), LIMITS), [0, 1, 2])
        self.assertEqual(runner.to_json("x" * 50, LIMITS), "x" * 10)
        self.assertEqual(len(runner.to_json({i: i for i in range(10)}, LIMITS)), 3)

    def test_deep_nesting_stops_at_a_repr(self):
        deep = []
        for _ in range(20):
            deep = [deep]
        self.assertIsInstance(runner.to_json(deep, LIMITS), list)

    def test_numpy_and_pandas_values(self):
        import numpy as np
        import pandas as pd

        self.assertEqual(runner.to_json(np.int64(7), LIMITS), 7)
        array = runner.to_json(np.arange(4), LIMITS)
        self.assertEqual((array["type"], array["shape"]), ("ndarray", [4]))
        frame = runner.to_json(pd.DataFrame({"a": range(5)}), LIMITS)
        self.assertEqual((frame["shape"], frame["truncated"], len(frame["data"])), ([5, 1], True, 3))
        series = runner.to_json(pd.Series([1.0, math.nan]), LIMITS)
        self.assertEqual(series["data"], [1.0, None])

    def test_a_hostile_repr_does_not_escape(self):
        class Hostile:
            def __repr__(self):
                raise RuntimeError("no")

        self.assertIn("unrepresentable", runner.to_json(Hostile(), LIMITS))


class Exceptions(unittest.TestCase):
    def test_only_user_frames_and_the_user_line(self):
        code = "x = 1\n\ny = x / 0\n"
        try:
            exec(compile(code, "main.py", "exec"), {})
        except ZeroDivisionError as error:
            report = runner.describe_exception(error, "main.py", code)
        self.assertEqual((report["exc_type"], report["line"]), ("ZeroDivisionError", 3))
        self.assertIn("y = x / 0", report["traceback"], "the user's source line is shown")
        self.assertIn('File "main.py", line 3', report["traceback"])
        self.assertNotIn("test_runner.py", report["traceback"])

    def test_syntax_errors_carry_their_line(self):
        code = "a = (\n\n"
        try:
            compile(code, "main.py", "exec")
        except SyntaxError as error:
            report = runner.describe_exception(error, "main.py", code)
        self.assertEqual(report["exc_type"], "SyntaxError")
        self.assertIsNotNone(report["line"])


class Prebinding(unittest.TestCase):
    def test_a_lazy_name_becomes_the_module_on_first_use(self):
        namespace = {}
        namespace["js"] = runner.LazyModule("js", "json", namespace)
        self.assertEqual(namespace["js"].dumps([1]), "[1]")
        import json

        self.assertIs(namespace["js"], json)


class Framing(unittest.TestCase):
    def test_frames_are_length_prefixed_json(self):
        read_end, write_end = os.pipe()
        # Not 1000: that is the channel of the runner running these tests.
        channel = runner.Channel(write_end, target=990)
        channel.send({"type": "hello", "text": "\ud800 lone surrogate"})
        os.close(channel.fd)
        data = os.read(read_end, 1 << 16)
        (length,) = struct.unpack(">I", data[:4])
        self.assertEqual(length, len(data) - 4)
        self.assertIn(b'"hello"', data)
        os.close(read_end)
        channel.send({"type": "after"})  # the reader is gone: no exception escapes
        self.assertTrue(channel.broken)


class OutputFiles(unittest.TestCase):
    def test_links_and_fifos_are_skipped(self):
        sent = []

        class Recorder:
            def send(self, frame):
                sent.append(frame)

        with tempfile.TemporaryDirectory() as work:
            outputs = os.path.join(work, runner.OUTPUTS)
            os.makedirs(outputs)
            with open(os.path.join(outputs, "a.txt"), "w") as f:
                f.write("a")
            os.symlink("/etc/passwd", os.path.join(outputs, "link"))
            os.mkfifo(os.path.join(outputs, "fifo"))
            saved, runner.WORKDIR = runner.WORKDIR, work
            try:
                runner.collect_files(Recorder(), LIMITS)
            finally:
                runner.WORKDIR = saved
        self.assertEqual([f["name"] for f in sent if f["type"] == "file"], ["a.txt"])


if __name__ == "__main__":
    unittest.main()
