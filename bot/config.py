"""pickloop's configuration: ``PICKLOOP_`` environment variables, or a ``.env`` file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from engine.adapters import ADAPTERS_KEPT
from engine.embedded import EMBEDDED_MODEL
from engine.train.limits import MOST_EXTRAPOLATION
from engine.types import DEFAULT_BATCH_IMAGES


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PICKLOOP_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(
        default=Path("pickloop-data"),
        description="Where the database (for SQLite), the image store and model caches live.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy async URL; empty means a SQLite file inside the data folder. "
        "PostgreSQL: postgresql+asyncpg://user@host/db",
    )
    model: str = Field(
        default=EMBEDDED_MODEL,
        description="The model that serves by default: a Hugging Face hub id, a local diffusers "
        "folder, 'embedded' (the toy model that ships with pickloop: coloured shapes, no "
        "download) or 'embedded-random' (a random tiny model that draws noise).",
    )
    device: Literal["auto", "cuda", "mps", "cpu"] = Field(
        default="auto", description="Where the engine runs; auto picks CUDA, then MPS, then CPU."
    )
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        default="auto",
        description="Weights' precision; auto: bf16/fp16 on CUDA, fp16 on MPS, fp32 on CPU.",
    )
    default_steps: int = Field(
        default=20, ge=1, description="Denoising steps when --steps is not given."
    )
    max_steps: int = Field(
        default=60, ge=1, description="The largest --steps a person may ask for."
    )
    default_guidance: float = Field(
        default=7.5, ge=0, description="Guidance when --cfg is not given."
    )
    max_guidance: float = Field(
        default=30.0, ge=0, description="The largest --cfg a person may ask for."
    )
    vary_subtle_strength: float = Field(
        default=0.5, gt=0, le=1, description="img2img strength of Vary (Subtle)."
    )
    vary_strong_strength: float = Field(
        default=0.65, gt=0, le=1, description="img2img strength of Vary (Strong)."
    )
    # Fine noise alone lets a model redraw a picture nearly as it was even at strength 0.85
    # (the embedded model does); coarse noise moves things (engine.variety.coarse_start).
    # Measured with bench/bench_variety.py: stronger than 0.65 with coarse noise, the embedded
    # model's things leave the place their prompt gives them more often than in plain grids.
    vary_subtle_chaos: int = Field(
        default=60, ge=0, le=100, description="--chaos of Vary (Subtle): coarse noise in its start."
    )
    vary_strong_chaos: int = Field(
        default=100,
        ge=0,
        le=100,
        description="--chaos of Vary (Strong): coarse noise in its start.",
    )
    default_chaos: int = Field(
        default=0,
        ge=0,
        le=100,
        description="--chaos of a grid whose prompt gives none (25 makes the embedded model's "
        "grids of fully described prompts differ more, at a small cost in what they get right).",
    )
    upscale_refine_strength: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="img2img strength of a refine pass after the 2x Lanczos upscale; 0 is off.",
    )
    upscale_creative_strength: float = Field(
        default=0.4,
        gt=0,
        lt=1,
        description="img2img strength of Upscale (Creative): how much detail it redraws at the "
        "new size.",
    )
    max_upload_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=1024,
        description="The most an image prompt (an /imagine or /blend attachment, a file given to "
        "pickloop imagine --image) may weigh, in bytes.",
    )
    job_lease_seconds: float = Field(
        default=120.0,
        gt=0,
        description="How long a worker's claim on a job holds without a heartbeat before another "
        "worker may take the job over.",
    )
    queue_poll_seconds: float = Field(
        default=0.5,
        gt=0,
        description="How often a process looks in the database for queued and finished jobs "
        "when nothing tells it (SQLite; PostgreSQL announces them at once).",
    )
    torch_threads: int | None = Field(
        default=None,
        ge=1,
        description="CPU threads torch may use in this process; unset: torch's default (every "
        "core). Set it when several pickloop processes share one machine's cores.",
    )
    user: str = Field(
        default="", description="Local person the CLI acts as; empty means the OS login name."
    )
    discord_token: SecretStr | None = Field(
        default=None, description="The Discord bot token (secret)."
    )
    discord_guild: int | None = Field(
        default=None,
        description="A Discord server (guild) id: slash commands are registered there only, "
        "where changes show at once; unset registers them globally.",
    )
    discord_progress_seconds: float = Field(
        default=1.5,
        ge=0,
        description="How often a job's Discord message shows its progress at most; Discord "
        "rate-limits edits of one message to about five per five seconds.",
    )
    queue_per_person: int = Field(
        default=3,
        ge=1,
        description="How many jobs one person may have queued or running at once.",
    )
    max_prompts_at_once: int = Field(
        default=16,
        ge=1,
        description="The most grids one /imagine may make with {a, b} options and --repeat.",
    )
    ask_above_prompts: int = Field(
        default=4,
        ge=1,
        description="Above this many grids from one /imagine, the person confirms first.",
    )
    queue_total: int = Field(
        default=50, ge=1, description="How many jobs may be queued or running in all."
    )
    jobs_at_once: int = Field(
        default=4,
        ge=1,
        description="How many jobs run at once; the engine draws grids that wait together in "
        "one pipeline call (see engine_batch_images). 1 runs one job at a time.",
    )
    engine: Literal["local", "ray"] = Field(
        default="local",
        description="Where pictures are drawn: 'local' (in this process, on its device) or "
        "'ray' (on the replicas `pickloop engine serve` deployed on a Ray cluster; needs "
        "pickloop[ray]).",
    )
    ray_address: str = Field(
        default="auto",
        description="The Ray cluster to join with engine=ray: 'auto' (the one `ray start` runs "
        "on this machine), HOST:PORT of its head, or ray://HOST:10001 (Ray Client).",
    )
    engine_gpus_per_replica: float | None = Field(
        default=None,
        ge=0,
        description="GPUs each engine replica takes (pickloop engine serve); unset: 1 where "
        "the cluster has GPUs, 0 where it has none.",
    )
    engine_batch_images: int = Field(
        default=DEFAULT_BATCH_IMAGES,
        ge=1,
        description="The most images one pipeline call draws when it gathers several people's "
        "grids (16: four grids); lower it if the GPU runs out of memory.",
    )
    engine_gather_seconds: float = Field(
        default=0.05,
        ge=0,
        description="How long a grid that finds the engine idle waits for others to share its "
        "pipeline call (jobs started together reach the engine a moment apart).",
    )
    adapters_kept: int = Field(
        default=ADAPTERS_KEPT,
        ge=1,
        description="LoRA adapters (people's profiles, tuned versions) the engine keeps loaded "
        "per model; the one used longest ago is unloaded to make room, and loaded again when "
        "next asked for.",
    )
    # NoDecode: the raw string reaches the validator below, which reads JSON or commas.
    banned_words: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Words or phrases a prompt may not contain (whole words, any case): a JSON "
        'list (["word", "a phrase"]) or comma-separated.',
    )
    admin_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list,
        description="Discord user ids of pickloop admins on every server (besides people with "
        "the Manage Server permission): a JSON list or comma-separated.",
    )

    profile_min_signals: int = Field(
        # About twenty grids' worth of a person's clicks: in the personal loop demo, profiles
        # trained at 28 signals won their owners' blind votes (docs/flywheel.md).
        default=30,
        ge=1,
        description="Signals (U-clicks, reactions, /rate answers) a person gives before their "
        "profile (--p) is first trained.",
    )
    flywheel: bool = Field(
        default=True,
        description="Whether pickloop retrains, tests and promotes profiles by itself (the "
        "server's and each person's); off: nothing new starts, and rounds under way stop "
        "where they are.",
    )
    flywheel_min_new_signals: int = Field(
        default=40,
        ge=1,
        description="New signals since a profile's last round that start its next one.",
    )
    flywheel_every_hours: float = Field(
        default=0,
        ge=0,
        description="Also start a round of the server's profile this many hours after the last "
        "one, if any signal came since (0: by signals alone).",
    )
    flywheel_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Share of grids that compare a candidate blind with the version it would "
        "replace (two pictures each), while one collects votes.",
    )
    flywheel_min_votes: int = Field(
        default=30,
        ge=1,
        description="Votes a candidate collects before it is judged: promoted when the 95% "
        "interval of its win rate lies above 50%, retired when below.",
    )
    flywheel_approval: bool = Field(
        default=False,
        description="A candidate that won waits for an operator's `pickloop models approve` "
        "instead of being promoted by itself.",
    )
    flywheel_method: Literal["kto", "dpo"] = Field(
        default="kto",
        description="How candidates learn: kto from the liked and passed-over pictures of "
        "grids; dpo from preference pairs, the ones a grid's U-click makes and /rate answers.",
    )
    flywheel_train_steps: int = Field(
        default=250, ge=1, description="Training steps of each candidate's adapter."
    )
    flywheel_train_batch: int = Field(
        default=32, ge=1, description="Pictures per training step of each candidate's adapter."
    )
    flywheel_extrapolate: float = Field(
        default=3.0,
        ge=1,
        le=MOST_EXTRAPOLATION,
        description="Each candidate's adapter is written as this many times the change its "
        "training made (ExPO: training learns the way people prefer but stops short of it).",
    )
    flywheel_check_seconds: float = Field(
        default=30,
        gt=0,
        description="How often a worker looks whether a round should start, move on or be judged.",
    )

    export_secret: SecretStr | None = Field(
        default=None,
        description="The key of the pseudonyms people get in exported datasets (HMAC-SHA256 of "
        "their internal id): long random text, kept secret and the same between exports. "
        "pickloop export refuses to run without it.",
    )
    export_license: str = Field(
        default="other",
        min_length=1,
        description="The license field of exported dataset cards, a Hugging Face license id "
        "such as cc-by-4.0; 'other' claims none until the operator chooses.",
    )

    @field_validator("banned_words", "admin_ids", mode="before")
    @classmethod
    def _list_from_text(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [word.strip() for word in text.split(",") if word.strip()]

    @model_validator(mode="after")
    def _steps_cap_covers_default(self) -> Settings:
        if self.default_steps > self.max_steps:
            raise ValueError(
                f"PICKLOOP_DEFAULT_STEPS ({self.default_steps}) exceeds "
                f"PICKLOOP_MAX_STEPS ({self.max_steps})"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.default_database_file}"

    @property
    def default_database_file(self) -> Path:
        """The SQLite file in the data folder, used unless PICKLOOP_DATABASE_URL says else."""
        return (self.data_dir / "pickloop.db").resolve()

    @property
    def image_dir(self) -> Path:
        return self.data_dir / "images"

    @property
    def profiles_dir(self) -> Path:
        """The flywheel's training sets and adapters, a folder per profile."""
        return self.data_dir / "profiles"

    @property
    def model_cache_dir(self) -> Path:
        return self.data_dir / "models"
