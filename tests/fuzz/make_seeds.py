#!/usr/bin/env python3
"""Writes the seed corpora in tests/fuzz/corpus/ (committed; rerun only to
change them). Synthetic values only: the test vectors of
shared/domain/kazakhstan.md and the samples of the unit tests."""

import hashlib
import os
import re
import shutil

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")


def write(fuzzer, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    d = os.path.join(OUT, fuzzer)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


FULL_NAME, IIN, PASSPORT, PHONE, CARD, EXPIRY, EMAIL, DOB, ADDRESS = range(1, 10)
FIELDS = {
    FULL_NAME: ["Әлия Тестова", "  Әлия   Тестова ", "Қайрат Тестов", "ҚАЙРАТ ТЕСТОВ",
                "Тестов Мукан \u0418\u0306ерлан", "Aliya Testova", "Äliya Testova",
                "Айгерiм Тестова", "O'Test-Testov", "Тестов\u00a0Тест"],
    IIN: ["850315300019", "920704412346", "000229500177", "011231604200", "850315301801",
          "061211600012", "850315300018", "850315302600", "85031530001", "8503153000190",
          "85031530001A", "851315300011", "850230300017", "850315700014"],
    PASSPORT: ["N12345678", "n 1234-5678", "012345678", "Н1234567"],
    PHONE: ["+77012345678", "8 (701) 234-56-78", "+7 727 250 1234", "+7 705 111 22 33",
            "+442079460958", "+7 701 FLOWERS", "12345"],
    CARD: ["4111 1111 1111 1111", "5555555555554444", "378282246310005",
           "4111111111111112", "4111110000091111"],
    EXPIRY: ["03/29", "12/2031", "13/29", "07 / 29"],
    EMAIL: ["Test.User@Mail.KZ", "aliya.test@mail.example.kz", "not-an-address",
            "a@b", "x@xn--80ao21a.kz"],
    DOB: ["1985-03-15", "2000-02-29", "2999-01-01", "1849-12-31"],
    ADDRESS: ["г. Алматы, ул. Тестовая, 1", "  г. Алматы,\n ул. Тестовая 1 ",
              "Astana, Test street 1\tflat 2"],
}


def fields():
    for t, values in FIELDS.items():
        for v in values:
            write("fields_fuzzer", bytes([t, 0]) + v.encode())
    write("fields_fuzzer", bytes([0, 0]) + b"anything")
    write("fields_fuzzer", bytes([77, 0]) + b"x")
    write("fields_fuzzer", bytes([ADDRESS, 0]) + b"\xd0\x90\xc0\xaf \xe2\x80\xae")


def policy():
    with open(os.path.join(ROOT, "deploy", "dev", "policy.textproto"), encoding="utf-8") as f:
        sample = f.read()
    write("policy_fuzzer", sample)
    # Each top-level block of the sample on its own, and small variants.
    blocks = re.findall(r"^(?:purposes|roles|identities|retention) \{.*?^\}", sample,
                        re.S | re.M)
    for b in blocks:
        write("policy_fuzzer", b + "\n")
    write("policy_fuzzer", 'purposes { name: "x" legal_basis: LEGAL_BASIS_CONSENT }\n'
          'roles { name: "r" tokenize { all: true } }\n'
          'identities { name: "i" organisation: "o" country: "KZ" roles: ["r", "r2"] }\n')
    write("policy_fuzzer", "identities { name: \"a\" roles: [\"b\"] }\nfoo: 1\n")


CONFIG = """listen: "127.0.0.1:7443"
tls {
  cert_file: "tls/server.crt"
  key_file: "tls/server.key"
  client_ca_file: "tls/clients-ca.crt"
  trust_domain: "vault.example.kz"
}
data_dir: "db"
master_key { file { path: "master.key" } }
policy_file: "policy.textproto"
residency_country: "KZ"
backups { targets { path: "/backups/sandyq" country: "KZ" } }
retention_every: "1h"
keys { rotate_every: "90d" rewrap_per_second: 2000 }
audit { checkpoint_every_events: 1000 checkpoint_every: "60s" }
"""
CONFIG_PKCS11 = """listen: "0.0.0.0:7443"
tls { cert_file: "/c" key_file: "/k" client_ca_file: "/ca" trust_domain: "t" }
data_dir: "/var/lib/sandyq/db"
master_key { pkcs11 { module: "/usr/lib/softhsm/libsofthsm2.so" token_label: "sandyq"
  key_label: "sandyq-master" pin_env: "SANDYQ_HSM_PIN" } }
policy_file: "/etc/sandyq/policy.textproto"
erasure_ledger: "/var/lib/sandyq/erasures.ledger"
"""


def config():
    for path in ["listen", "tls.cert_file", "backups.targets[0].path",
                 "master_key.pkcs11.pin_file", "90d", "1h30m"]:
        write("config_fuzzer", path + "\n" + CONFIG)
        write("config_fuzzer", path + "\n" + CONFIG_PKCS11)
    write("config_fuzzer", "keys.rotate_every\nkeys { rotate_every: \"0s\" }\n")


def aead():
    write("aead_fuzzer", b"\x00ad\\\n" + b"\x01" + bytes(12) + b"ciphertext" + bytes(16))
    write("aead_fuzzer", b"\x01sandyq field v1\\\n\x03\x00\x10\x00" + "Әлия Тестова".encode())
    write("aead_fuzzer", b"\x02kek\\\n" + b"\x01\x00\x00\x00" + b"\x01" + bytes(60))
    write("aead_fuzzer", b"\x03\x01kek:1\\\nsandyq-keks-v1\n1 0011aabb\n2 ff\n")
    write("aead_fuzzer", b"\x03\x00sandyq-master-key-v1\n" + b"ab" * 32 + b"\n\\\n"
          + b"sandyq-keks-v1\n")


def dictionary(fuzzer, protos):
    """A libFuzzer dictionary of the field and enum names of `protos` and
    the text-format punctuation, so the parsers' fuzzers write real fields."""
    words = set(["{", "}", ":", "[", "]", ",", "<", ">", '"', "#", "true", "false",
                 "all: true", '"90d"', '"KZ"', '"DE"', "-1", "4294967296"])
    for proto in protos:
        with open(os.path.join(ROOT, "proto", "sandyq", "v1", proto), encoding="utf-8") as f:
            text = f.read()
        words.update(re.findall(r"^\s+(?:repeated\s+)?[\w.]+\s+(\w+)\s*=\s*\d+", text, re.M))
        words.update(re.findall(r"^\s+([A-Z][A-Z0-9_]+)\s*=\s*\d+", text, re.M))
    path = os.path.join(ROOT, "tests", "fuzz", fuzzer + ".dict")
    with open(path, "w", encoding="utf-8") as f:
        f.write("# Generated by tests/fuzz/make_seeds.py.\n")
        for w in sorted(words):
            f.write('"%s"\n' % w.replace("\\", "\\\\").replace('"', '\\"'))


def opaque(fuzzer, seeds):
    for s in seeds:
        write(fuzzer, s)


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    fields()
    policy()
    config()
    dictionary("policy_fuzzer", ["policy.proto", "field_type.proto"])
    dictionary("config_fuzzer", ["config.proto"])
    aead()
    # The FuzzedDataProvider targets take any bytes; a few shapes to start.
    opaque("audit_fuzzer", [b"\x00\x0a\x05\x08\x01\x10\x02\x12\x20" + bytes(32),
                            b"\x01" + bytes(range(64)) * 4, b"\x02" + bytes(range(256)),
                            b"\x02\xff" * 40])
    opaque("records_fuzzer", [bytes([i]) * 64 for i in range(0, 256, 17)]
           + [b"\x03\x00" * 40, bytes(range(256))])
    opaque("vault_fuzzer", [bytes([i]) * 96 for i in range(0, 256, 15)]
           + [bytes(range(256)), "dpo\\\nsubject_access_request\\\n".encode() * 8])


if __name__ == "__main__":
    main()
