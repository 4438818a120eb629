"""R-I2: one function masks the passwords a database URL or a libpq keyword string
carries, wherever in a message they stand; nothing else is changed."""

import string

from hypothesis import assume, given
from hypothesis import strategies as st

from qrun.adapters.redact import mask

PASSWORD = st.text(string.ascii_letters + string.digits + "!#$%&()*+,-./:;<=>?@[]^_`{|}~", min_size=1)
AROUND = st.text(string.ascii_letters + " :,()", max_size=20)


@given(PASSWORD, AROUND, AROUND)
def test_a_urls_password_never_survives_wherever_it_stands(password, before, after):
    url = f"postgresql://app:{password}@db.internal:5432/jobs"
    assume(password not in f"{before}postgresql://app:***@db.internal:5432/jobs {after}")
    masked = mask(f"{before}{url} {after}")
    assert password not in masked
    assert masked.startswith(f"{before}postgresql://app:***@")


@given(st.text(string.ascii_letters + string.digits + "!#$%*+-./:;<>?@[]^_{|}~", min_size=1))
def test_a_keyword_password_is_masked_bare_or_quoted(password):
    assume(password not in "host=db password=*** dbname=jobs")
    assert password not in mask(f"host=db password={password} dbname=jobs")
    assert mask(f"host=db password='{password} x' dbname=jobs") == "host=db password=*** dbname=jobs"


def test_what_holds_no_password_is_left_as_it_is():
    for text in (
        "./qrun.db",
        "postgresql://app@db/jobs",
        "postgresql://db:5432/jobs",
        "cannot connect to PostgreSQL at postgresql://app@db/jobs: refused",
        "sqlite file /var/lib/qrun/q.db",
    ):
        assert mask(text) == text


def test_several_urls_and_a_query_password_in_one_message():
    text = "from postgresql://a:one@h1/x to postgres://b:two@h2/y?password=three&sslmode=require"
    masked = mask(text)
    assert not any(p in masked for p in ("one", "two", "three"))
    assert masked == "from postgresql://a:***@h1/x to postgres://b:***@h2/y?password=***&sslmode=require"
