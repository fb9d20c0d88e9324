"""Credentials are hidden by their shape, whatever the URL-like string; ordinary text is not."""

from __future__ import annotations

import io
import itertools
import json
import logging
import time

import pytest

from dataflows_factory import store
from dataflows_factory._secrets import RedactingFilter, redact, redact_value, redacting_logs

# (shape, text, secrets that must be gone, parts that must stay)
CORPUS = [
    ("standard", "postgresql://user:S3cretA@db.internal/shop", ["S3cretA"],
     ["postgresql://", "@db.internal/shop"]),
    ("driver scheme", "postgresql+psycopg2://etl:S3cretA@db:5432/shop", ["S3cretA"],
     ["postgresql+psycopg2://", "@db:5432/shop"]),
    ("scheme typo, no colon", "postgresql+psycopg2//user:S3cretA@db/shop", ["S3cretA"],
     ["postgresql+psycopg2//", "@db/shop"]),
    ("scheme typo, one slash", "postgresql:/user:S3cretA@db/shop", ["S3cretA"], ["@db/shop"]),
    ("scheme typo, no slash", "postgresql+psycopg2:user:S3cretA@db/shop", ["S3cretA"], ["@db/shop"]),
    ("three slashes", "mysql:///user:S3cretA@db/shop", ["S3cretA"], ["@db/shop"]),
    ("scheme-relative", "engine //user:S3cretA@db/shop", ["S3cretA"], ["@db/shop"]),
    ("no scheme", "user:S3cretA@db.internal:5432/shop", ["S3cretA"], ["@db.internal:5432/shop"]),
    ("raw @ in the password", "postgresql://user:p@ssS3cret@db/shop", ["p@ssS3cret", "ssS3cret"],
     ["@db/shop"]),
    ("several @", "postgresql://user:a@b@cS3cret@db/shop", ["S3cret", "b@c"], ["@db/shop"]),
    ("/ in the password", "postgresql://user:S3c/retA@db/shop", ["S3c", "retA"], ["@db/shop"]),
    ("# in the password", "postgresql://user:S3c#retA@db/shop", ["S3c", "retA"], ["@db/shop"]),
    ("? in the password", "postgresql://user:S3c?retA@db/shop", ["S3c", "retA"], ["@db/shop"]),
    (": in the password", "postgresql://user:S3c:retA@db/shop", ["S3c", "retA"], ["@db/shop"]),
    ("space in the password", "postgresql://user:S3c retA@db/shop", ["S3c", "retA"], ["@db/shop"]),
    ("@, / and # in the password", "postgresql://user:S3@c/re#tA@db/shop", ["S3@c", "re#tA"],
     ["@db/shop"]),
    ("quote in the password", "engine 'postgresql://user:it'sS3cret@db/shop'", ["sS3cret"],
     ["@db/shop"]),
    ("percent-encoded", "postgresql://user:p%40ss%2FS3cret@db/shop", ["S3cret", "p%40ss"],
     ["@db/shop"]),
    ("e-mail as user", "https://ada@example.com:S3c#retA@host.example.org/x", ["S3c", "retA"],
     ["@host.example.org/x"]),
    ("empty user", "redis://:S3cretA@cache:6379/0", ["S3cretA"], ["redis://", "@cache:6379/0"]),
    ("amqp", "amqp://guest:S3cretA@localhost//", ["S3cretA"], ["amqp://", "@localhost//"]),
    ("mongodb+srv", "mongodb+srv://u:S3cretA@cluster0.example.net/", ["S3cretA"],
     ["@cluster0.example.net/"]),
    ("mongodb hosts", "mongodb://u:S3cretA@h1:27017,h2:27017/db?replicaSet=rs", ["S3cretA"],
     ["@h1:27017,h2:27017/db"]),
    ("ipv6 host", "postgresql://u:S3cretA@[::1]:5432/db", ["S3cretA"], ["@[::1]:5432/db"]),
    ("git over https", "https://user:ghtokenS3cret@github.com/x.git", ["ghtokenS3cret"],
     ["@github.com/x.git"]),
    ("token as user", "https://ghp_S3cretS3cretS3cretS3cretS3cret0123@github.com/x.git",
     ["ghp_S3cret"], ["@github.com/x.git"]),
    ("s3 key and secret", "s3://AKIAEXAMPLE:S3cret/Key+x@bucket/prefix", ["S3cret", "Key+x"],
     ["s3://", "@bucket/prefix"]),
    ("?password=", "https://h.example/x?password=S3cretA&user=u", ["S3cretA"], ["user=u"]),
    ("&passwd=", "https://h.example/x?user=u&passwd=S3cretA", ["S3cretA"], ["user=u"]),
    ("pwd=", "https://h.example/x?pwd=S3cretA", ["S3cretA"], ["h.example"]),
    ("secret=", "https://h.example/x?client_secret=S3cretA&a=1", ["S3cretA"], ["a=1"]),
    ("token=", "https://h.example/x?token=S3cretA", ["S3cretA"], ["h.example"]),
    ("access_token=", "https://h.example/x?access_token=S3cretA", ["S3cretA"], ["h.example"]),
    ("api_key=", "https://h.example/x?api_key=S3cretA&apikey=S3cretB", ["S3cretA", "S3cretB"],
     ["h.example"]),
    ("Azure SAS", "https://a.blob.core.windows.net/c/b?sv=2022-11-02&sig=S3cret%2BA%3D&se=2026",
     ["S3cret"], ["sv=2022-11-02", "se=2026"]),
    ("S3 presigned", "https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIAX%2F20260101"
     "&X-Amz-Security-Token=S3cretT&X-Amz-Signature=S3cretS", ["AKIAX", "S3cretT", "S3cretS"],
     ["b.s3.amazonaws.com/k?"]),
    ("libpq DSN", "host=db user=etl password=S3cretA dbname=shop", ["S3cretA"],
     ["host=db user=etl", "dbname=shop"]),
    ("libpq DSN, quoted", "host=db password='S3c ret\\'A' dbname=shop", ["S3c", "ret"],
     ["dbname=shop"]),
    ("JDBC", "jdbc:postgresql://h/db?user=u&password=S3cretA", ["S3cretA"], ["jdbc:postgresql://h/db"]),
    ("SQL Server", "jdbc:sqlserver://h:1433;databaseName=x;user=u;password=S3cretA;", ["S3cretA"],
     ["databaseName=x"]),
    ("ODBC braces", "Driver={ODBC Driver 18};Server=h;Uid=u;Pwd={S3c;retA};", ["S3c", "retA"],
     ["Server=h"]),
    ("Bearer header", "Authorization: Bearer eyS3cret.token-value", ["eyS3cret"], ["Authorization"]),
    ("Basic header", "{'Authorization': 'Basic dXNlcjpTM2NyZXQ='}", ["dXNlcjpTM2NyZXQ="],
     ["Authorization"]),
    ("bearer in a sentence", "sent bearer abc123S3cretXYZ to the API", ["abc123S3cret"], ["sent"]),
    ("AWS variable", "AWS_SECRET_ACCESS_KEY=wJalrS3cret/K7MDENG", ["wJalrS3cret"],
     ["AWS_SECRET_ACCESS_KEY="]),
    ("header", "X-Api-Key: S3cretA\nAccept: */*", ["S3cretA"], ["X-Api-Key: ", "Accept: */*"]),
    ("YAML setting", "database:\n  password: S3cretA\n  host: db", ["S3cretA"], ["host: db"]),
    ("JSON key", '{"password": "S3cretA", "user": "u"}', ["S3cretA"], ['"user": "u"']),
    ("dict repr key", "{'db_password': 'S3cretA'}", ["S3cretA"], ["db_password"]),
    ("keyword argument", "connect(host='h', password=b'S3cretA')", ["S3cretA"], ["host='h'"]),
    ("JWT", "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkw.S3cretSignatureValue1", ["S3cret"],
     ["token"]),
    ("private key", "-----BEGIN RSA PRIVATE KEY-----\nMIIS3cret\n-----END RSA PRIVATE KEY-----",
     ["MIIS3cret"], ["BEGIN RSA PRIVATE KEY"]),
    ("in a tuple repr", "('postgresql://u:S3cretA@db/shop', 5)", ["S3cretA"], ["@db/shop', 5)"]),
    ("in JSON-escaped text", json.dumps({"traceback": 'engine="postgresql://u:S3cretA@db/shop"\n'}),
     ["S3cretA"], ["@db/shop"]),
    ("end of line", "failed on postgresql://u:S3cretA@db/shop\nnext line", ["S3cretA"],
     ["@db/shop\nnext line"]),
    ("followed by punctuation", "(see postgresql://u:S3cretA@db/shop).", ["S3cretA"],
     ["@db/shop)."]),
    ("followed by an e-mail", "postgresql://u:S3cretA@db/shop failed, mail ada@example.com",
     ["S3cretA"], ["@db/shop failed, mail ada@example.com"]),
]

ORDINARY = [
    "mail ada@example.com or ada.lovelace+etl@mail.example.org",
    "a,b,c",
    "the run started at 12:30 and ended at 12:45:07",
    "/srv/data/world/countries/datapackage.json",
    "C:\\Users\\ada\\data.csv",
    "https://example.com/path/file.csv?format=csv&rows=10",
    "https://example.com:8443/p?to=ada@example.com",
    "git@github.com:org/repo.git",
    "sqlite:///data/shop.db",
    "unexpected token: ')' at line 3",
    'FATAL: password authentication failed for user "postgres"',
    "flow 'cities', processor 'filter_rows' (step #2), resource 'cities', row 3 failed",
    "mailto:ada@example.com",
    "key=value, x=1; y: 2",
    "StoreError: store 's3://lake/x': NoCredentialsError: Unable to locate credentials; give the "
    "store its credentials: as user and password in the store URL",
    "cryptography.exceptions.InvalidSignature: the signature does not match",
]


@pytest.mark.parametrize(("text", "secrets", "kept"), [case[1:] for case in CORPUS],
                         ids=[case[0] for case in CORPUS])
def test_every_shape_loses_its_credential_and_keeps_its_place(text, secrets, kept):
    """The credential is gone, and the scheme, host and key names around it stay."""
    redacted = redact(text)
    for secret in secrets:
        assert secret not in redacted, redacted
    for part in kept:
        assert part in redacted, redacted
    assert "***" in redacted
    assert redact(redacted) == redacted  # idempotent: redacting twice changes nothing


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_is_left_alone(text):
    """E-mail addresses, lists, times, paths and URLs without credentials are not touched."""
    assert redact(text) == text


def test_the_visible_shape_is_the_documented_one():
    """The credential becomes ``***`` in place: scheme, host, path and other parameters stay."""
    assert redact("postgresql+psycopg2//user:p@ss@host/db") == "postgresql+psycopg2//***@host/db"
    assert redact("https://h/x?user=u&password=pw") == "https://h/x?user=u&password=***"
    assert redact("host=db password='se cret'") == "host=db password='***'"


PASSWORDS = ["p@ss", "p@ss@w0rd", "pa/ss", "pa#ss", "pa?ss", "pa:ss", "pa ss", "pa%40ss",
             "p@ss/w#rd?", "it's", 'pa"ss', "pa;ss", "Zx!$&*()+,=", "pä55wörd", "pw"]
USERS = ["user", "", "ada@example.com"]
SCHEMES = ["postgresql://", "postgresql+psycopg2://", "postgresql+psycopg2//", "postgresql:/",
           "mongodb+srv://", "s3://", "https://"]
CONTEXTS = ["{url}", "cannot use engine {url!r}: Could not parse", "engine='{url}'",
            'engine="{url}"', "error: {url}\nnext", "({url!r}, 5)", "see {url}.",
            "{json}"]


def test_passwords_of_every_kind_vanish_from_every_context():
    """Every mix of password, user, scheme and surrounding text loses the whole password."""
    leaks = []
    for password, user, scheme, context in itertools.product(PASSWORDS, USERS, SCHEMES, CONTEXTS):
        secret = f"Q7{password}Z9"
        url = f"{scheme}{user}:{secret}@db.example.com:5432/shop"
        text = context.format(url=url, json=json.dumps({"traceback": f"engine={url!r}\n"}))
        redacted = redact(text)
        if secret in redacted or json.dumps(secret)[1:-1] in redacted \
                or "@db.example.com:5432/shop" not in redacted:
            leaks.append((text, redacted))
    assert leaks == []


def test_redact_value_walks_nested_structures():
    """Strings are redacted inside dicts (keys too), lists and tuples; other values are kept."""
    value = {
        "source": "https://u:pw1@h/x.csv",
        "resources": [{"dpp:streamedFrom": "postgresql://u:pw2@db/x", "count": 3,
                       "path": ("a.csv", "mysql://u:pw3@db/y")}],
        "postgresql://u:pw4@db/z": None,
        "ok": True,
    }
    redacted = redact_value(value)
    assert "pw" not in json.dumps(redacted)
    assert redacted["resources"][0]["count"] == 3 and redacted["ok"] is True
    assert redacted["resources"][0]["path"] == ("a.csv", "mysql://***@db/y")
    assert redacted["postgresql://***@db/z"] is None
    assert value["source"] == "https://u:pw1@h/x.csv"  # the input is not modified


def test_store_redact_is_the_one_redaction():
    """``store.redact`` (the old import path) is the same function, exported."""
    assert store.redact is redact and "redact" in store.__all__


ADVERSARIAL = ["a:", "a://", "a//@", "@", "u:p@h/", "x://u:p x@", "password=", '"password": "',
               "password='", "Authorization: ", "bearer a1", "-----BEGIN PRIVATE KEY-----",
               "a=b&", "ghp_", "eyJaaaaaaaaa.", "\\n", "{", "a:/@ "]


@pytest.mark.parametrize("unit", ADVERSARIAL)
def test_hostile_long_input_is_redacted_in_linear_time(unit):
    """100 KB of a repeated trigger is redacted fast: no catastrophic backtracking."""
    text = (unit * (100_000 // len(unit) + 1))[:100_000]
    started = time.perf_counter()
    redact(text)
    assert time.perf_counter() - started < 1.0


def _record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("somelib", logging.ERROR, __file__, 1, message, args, exc_info)


def test_filter_redacts_message_arguments_traceback_and_extras():
    """A record's formatted message, its exception (chained causes too) and extras are redacted."""
    try:
        try:
            raise OSError("connect postgresql://u:CausePw1@db/x")
        except OSError as cause:
            raise ValueError("engine=postgresql+psycopg2//u:RaisedPw2@db/x") from cause
    except ValueError as error:
        record = _record("cannot open %s (%r)", "https://u:ArgPw3@h/x", {"password": "ArgPw4"},
                         exc=error)
    record.url = "s3://K:ExtraPw5@bucket"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(message)s %(url)s"))
    handler.handle(record)
    out = stream.getvalue()
    assert "https://***@h/x" in out and "Traceback" in out and "s3://***@bucket" in out
    for secret in ("CausePw1", "RaisedPw2", "ArgPw3", "ArgPw4", "ExtraPw5"):
        assert secret not in out
    assert record.exc_info is None  # a handler rendering the exception itself sees none


def test_redacting_logs_covers_every_handler_only_while_it_runs():
    """Inside the block every handler of the process redacts; afterwards none is changed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tests.secrets.somelib")
    logger.addHandler(handler)
    try:
        with redacting_logs(), redacting_logs():  # nested: one installation
            logger.warning("url postgresql://u:InsidePw@db/x")
        logger.warning("url postgresql://u:AfterPw@db/x")
    finally:
        logger.removeHandler(handler)
    assert "InsidePw" not in stream.getvalue() and "postgresql://***@db/x" in stream.getvalue()
    assert "AfterPw" in stream.getvalue()  # outside the block the host's logging is its own
    assert handler.filters == []
