"""conduit.Error and its subclasses: code, code_name, message."""

import pytest

import conduit


def test_every_code_has_a_subclass_of_error():
    names = {
        "InvalidArgument": conduit.InvalidArgumentError,
        "TooLarge": conduit.TooLargeError,
        "Closed": conduit.ClosedError,
        "NotFound": conduit.NotFoundError,
        "AlreadyExists": conduit.AlreadyExistsError,
        "Corruption": conduit.CorruptionError,
        "IOError": conduit.IOFailureError,
        "Busy": conduit.BusyError,
        "TimedOut": conduit.TimedOutError,
        "Unsupported": conduit.UnsupportedError,
        "ReadOnly": conduit.ReadOnlyError,
    }
    assert set(conduit.CODES) == set(names) | {"OK"}
    for cls in names.values():
        assert issubclass(cls, conduit.Error)
    assert issubclass(conduit.InvalidArgumentError, ValueError)
    assert issubclass(conduit.TimedOutError, TimeoutError)
    assert issubclass(conduit.NotFoundError, LookupError)
    assert issubclass(conduit.IOFailureError, OSError)


def test_an_error_carries_code_and_message():
    with conduit.Engine() as e:
        with pytest.raises(conduit.NotFoundError) as info:
            e.topic("missing")
    err = info.value
    assert err.code == conduit.CODES["NotFound"]
    assert err.code_name == "NotFound"
    assert "missing" in err.message
    assert str(err) == "NotFound: " + err.message


def test_bad_option_values_are_invalid_argument():
    with conduit.Engine() as e:
        with pytest.raises(conduit.InvalidArgumentError, match="durability"):
            e.create_topic("t", durability="fast")
        t = e.create_topic("t")
        with pytest.raises(conduit.InvalidArgumentError, match="start"):
            t.subscribe(start="middle")
        with pytest.raises(conduit.InvalidArgumentError, match="slow"):
            t.subscribe(slow="maybe")
        with pytest.raises(conduit.InvalidArgumentError, match="wait"):
            t.subscribe(wait="sleepy")
        with pytest.raises(conduit.InvalidArgumentError, match="on_failure"):
            t.work_group("g", on_failure="shrug")
        with pytest.raises(conduit.InvalidArgumentError, match="linger"):
            t.subscribe(linger=-1.0)
        with pytest.raises(conduit.InvalidArgumentError, match="stream_gap"):
            t.subscribe(stream_gap=-1.0)


def test_a_second_engine_on_a_directory_is_busy(data_dir):
    with conduit.Engine(data_dir):
        with pytest.raises(conduit.BusyError):
            conduit.Engine(data_dir)
    # close() freed the directory.
    with conduit.Engine(data_dir) as again:
        assert not again.closed


def test_an_argument_of_the_wrong_type_is_type_error(data_dir):
    # Arguments the bindings cast themselves, as those pybind11 converts.
    with conduit.Engine(data_dir) as e:
        t = e.create_topic("t", durability="async", segment_bytes=160 << 10, max_payload_bytes=1024)
        with pytest.raises(TypeError):
            t.work_group("g").consumer(name=1)
        with pytest.raises(TypeError):
            t.subscribe(name=2)
        with pytest.raises(TypeError):
            t.work_group("h", dead_letter_topic=3)
