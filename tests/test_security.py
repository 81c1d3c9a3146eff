"""No private key in what the project publishes: the synthesized cdk.out, and git (every file of
HEAD and every change in the history). A key is a PEM private-key block with a body, or a bare
PKCS#8 / SEC1 base64 body; the words alone (in code that looks for them) are not a key."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Synth

ROOT = Path(__file__).resolve().parent.parent
GIT = shutil.which("git") or "git"
PEM_KEY = re.compile(rb"-----BEGIN (?:EC |RSA |ENCRYPTED )?PRIVATE KEY-----\s*(?:\\n)?[A-Za-z0-9+/=\s\\n]{40,}")
#: base64 of PKCS#8 (MIG/MIE..) and SEC1 EC keys (MHcCAQEE, MIGkAgEBB): a key pasted without its armour.
BARE_KEY = re.compile(
    rb"(?:MIGHAgEAMBMGByqGSM49|MIG2AgEAMBAGByqGSM49|MHcCAQEE|MIGkAgEBB|MIIEvQIBADANBgkqhkiG9w0BAQEF)[A-Za-z0-9+/]{20,}"
)


def findings(blob: bytes) -> list[str]:
    return [m.group(0)[:40].decode(errors="replace") for rx in (PEM_KEY, BARE_KEY) for m in rx.finditer(blob)]


def test_the_patterns_find_a_real_key() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    for fmt in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
        pem = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
        assert findings(pem)
        assert findings(b"".join(pem.splitlines()[1:-1]))  # the body alone
    assert not findings(b'if "PRIVATE KEY" in pem: refuse("-----BEGIN PRIVATE KEY-----")')


def test_no_private_key_in_cdk_out(synth: Synth) -> None:
    files = [p for p in synth.outdir.rglob("*") if p.is_file()]
    assert files
    found = {str(p.relative_to(synth.outdir)): findings(p.read_bytes()) for p in files}
    assert not {k: v for k, v in found.items() if v}


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")
def test_no_private_key_in_git_head_or_history() -> None:
    tracked = subprocess.run([GIT, "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    found = {}
    for name in filter(None, tracked.split(b"\0")):
        path = ROOT / name.decode()
        if path.is_file():
            hits = findings(path.read_bytes())
            if hits:
                found[name.decode()] = hits
    assert not found
    history = subprocess.run(
        [GIT, "log", "--all", "-p", "--no-color", "--format=commit %H", "-G", "PRIVATE KEY|MHcCAQEE|MIGHAgEA"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout  # fmt: skip
    added = b"\n".join(line[1:] for line in history.splitlines() if line.startswith(b"+"))
    assert not findings(added)
