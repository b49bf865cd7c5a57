"""Throw-away X.509 material for tests of TLS settings: a CA and certificates it signs, in
PEM as Strimzi writes them (PKCS#8 keys), made with the `openssl` command."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def _openssl(*args: str | Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    subprocess.run([openssl, *map(str, args)], check=True, capture_output=True)


def make_ca(folder: Path) -> Path:
    """`folder/ca.crt` and `folder/ca.key`: a self-signed CA valid for a day."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
             "/CN=test-ca", "-keyout", folder / "ca.key", "-out", folder / "ca.crt")  # fmt: skip
    return folder / "ca.crt"


def issue(ca_folder: Path, folder: Path, common_name: str, alt_names: str = "") -> Path:
    """`folder/user.crt` + `folder/user.key` for CN=`common_name`, signed by the CA in
    `ca_folder`; `alt_names` e.g. "IP:127.0.0.1,DNS:localhost" for a server."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={common_name}",
             "-keyout", folder / "user.key", "-out", folder / "user.csr")  # fmt: skip
    extensions = folder / "ext.cnf"
    extensions.write_text(f"subjectAltName={alt_names}\n" if alt_names else "\n")
    _openssl("x509", "-req", "-in", folder / "user.csr", "-CA", ca_folder / "ca.crt",
             "-CAkey", ca_folder / "ca.key", "-CAcreateserial", "-days", "1",
             "-extfile", extensions, "-out", folder / "user.crt")  # fmt: skip
    return folder


def pkcs12(folder: Path, password: str) -> Path:
    """`folder/user.p12` from its user.crt and user.key (a Java keystore)."""
    _openssl("pkcs12", "-export", "-in", folder / "user.crt", "-inkey", folder / "user.key",
             "-out", folder / "user.p12", "-passout", f"pass:{password}")  # fmt: skip
    return folder / "user.p12"
