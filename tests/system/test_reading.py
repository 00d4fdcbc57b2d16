"""Reading inputs: only regular files, bounded sizes, strict JSON; every refusal one line."""

import hashlib
import json
import os
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from littlebaby.errors import UserError, describe_bytes
from littlebaby.system import arguments, reading


def refusal(call, *args) -> str:
    with pytest.raises(UserError) as error:
        call(*args)
    text = str(error.value)
    assert "\n" not in text
    return text


def test_a_regular_file_is_read_whole(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"hello")
    assert reading.read_bytes(path, "data file", limit=5) == b"hello"


def test_a_file_over_the_limit_is_refused_naming_both_sizes(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"x" * 2048)
    assert "is 2.0 KiB, more than the 1.0 KiB" in refusal(reading.read_bytes, path, "data file", 1024)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_devices_are_refused_before_reading(device):
    if not os.path.exists(device):
        pytest.skip(f"no {device} here")
    assert "a character device, not a regular file" in refusal(reading.read_bytes, device, "data file", 1 << 30)


def test_a_directory_is_refused(tmp_path):
    assert "is a directory, not a regular file" in refusal(reading.read_bytes, tmp_path, "config file", 1024)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_without_a_writer_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    outcome = []
    worker = threading.Thread(
        target=lambda: outcome.append(refusal(reading.read_bytes, fifo, "data file", 1024)), daemon=True
    )
    worker.start()
    worker.join(timeout=10)
    if worker.is_alive():  # unblock the reader so the test run can end, then fail
        with open(fifo, "wb"):
            pass
        pytest.fail("reading a FIFO with no writer blocked")
    assert "a FIFO (named pipe), not a regular file" in outcome[0]


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_a_pipe_with_a_writer_is_read_when_asked_for(tmp_path):
    read_end, write_end = os.pipe()
    path = f"/proc/self/fd/{read_end}"  # what `--data <(zcat text.gz)` hands over
    writer = threading.Thread(target=lambda: (os.write(write_end, b"streamed text"), os.close(write_end)))
    try:
        assert "a FIFO (named pipe), not a regular file" in refusal(reading.read_bytes, path, "config file", 1024)
        writer.start()
        assert reading.read_bytes(path, "data file", 1024, pipes=True) == b"streamed text"
    finally:
        writer.join()
        os.close(read_end)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_without_a_writer_is_refused_even_where_pipes_are_read(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    assert "a FIFO with no writer" in refusal(reading.read_bytes, tmp_path / "pipe", "data file", 1024, "fix", True)


def test_missing_and_dangling_links_say_which(tmp_path):
    assert "not found" in refusal(reading.read_bytes, tmp_path / "nope.txt", "data file", 10)
    link = tmp_path / "link.txt"
    link.symlink_to(tmp_path / "gone.txt")
    assert "is a symbolic link to a missing file" in refusal(reading.read_bytes, link, "data file", 10)


@pytest.mark.parametrize("ending", ["/", "//", "/."])
def test_a_file_given_as_a_directory_is_refused(tmp_path, ending):
    # pathlib drops a trailing '/' or '/.', so text.txt/ read as text.txt while the system says "Not a directory"
    (tmp_path / "text.txt").write_text("hello")
    (tmp_path / "books").mkdir()
    line = refusal(arguments.given_path, f"{tmp_path / 'text.txt'}{ending}", "data", "books/")
    assert f"text.txt{ending} ends as a directory's path does, but {tmp_path / 'text.txt'} is not a directory" in line
    assert arguments.given_path(f"{tmp_path / 'books'}{ending}", "data", "books/") == tmp_path / "books"
    assert arguments.given_path(f"{tmp_path / 'new'}{ending}", "out", "prepared/") == tmp_path / "new"  # created later


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"lr": -Infinity}', "1e999", '{"a": [1, -1e400]}'])
def test_json_without_finite_numbers_is_refused(text):
    json.loads(text)  # Python's own reader accepts them all
    assert "not valid JSON" in refusal(reading.loads, text, "config file c.json")


def test_json_nested_past_the_recursion_limit_is_one_line():
    assert "nested too deeply" in refusal(reading.loads, "[" * 200_000 + "]" * 200_000, "config file c.json")


def test_json_files_are_read_with_a_limit(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"a": "x" * 100}))
    assert reading.read_json(path, "config file") == {"a": "x" * 100}
    assert "more than" in refusal(reading.read_json, path, "config file", 50)


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_any_bytes_parse_or_are_one_user_error(raw):
    try:
        reading.loads(raw, "a file")
    except UserError as error:
        assert "\n" not in str(error)


def test_sizes_read_as_people_write_them():
    assert describe_bytes(512) == "512 bytes"
    assert describe_bytes(3 << 30) == "3.0 GiB"
    assert describe_bytes(10**400) == "10^400 bytes"  # a config may ask for more than a float holds


def test_a_file_streamed_in_chunks_hashes_as_its_bytes(tmp_path):
    content = bytes(range(256)) * 41 + b"tail"  # not a whole number of chunks
    (tmp_path / "f").write_bytes(content)
    pieces = list(reading.chunks(tmp_path / "f", size=1000))
    assert b"".join(pieces) == content and max(map(len, pieces)) == 1000
    assert reading.sha256(pieces) == reading.sha256(content) == hashlib.sha256(content).hexdigest()
    assert reading.sha256(reading.chunks(tmp_path / "f")) == reading.sha256(bytearray(content))
