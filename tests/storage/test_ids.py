import string

from storage import new_public_id


def test_public_ids_are_ten_lowercase_letters_or_digits() -> None:
    for _ in range(200):
        public_id = new_public_id()
        assert len(public_id) == 10
        assert set(public_id) <= set(string.ascii_lowercase + string.digits)


def test_public_ids_do_not_repeat() -> None:
    assert len({new_public_id() for _ in range(10_000)}) == 10_000
