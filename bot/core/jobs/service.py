"""The job service: every front end (Discord, the CLI, tests) asks for work through here.

It turns a request into durable rows (a queued job, and for a click the event that caused it)
in one transaction, so accepted work and human signals are never lost. Running the jobs is
the runner's business (``bot.core.jobs.runner``).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, selectinload

from bot.config import Settings
from bot.core.actor import Actor, find_user, get_or_create_user, refuse_if_blocked
from bot.core.errors import (
    ConfirmationNeeded,
    NotFound,
    PermissionDenied,
    SetupError,
    UserError,
)
from bot.core.jobs.caps import refuse_over_cap
from bot.core.jobs.comparison import HIDDEN, blind_layout, compared_versions
from bot.core.jobs.edits import EditRequest
from bot.core.jobs.image_prompts import (
    DEFAULT_IMAGE_WEIGHT,
    NO_IMAGE_PROMPTS,
    ImagePrompts,
    Upload,
    aspect_of,
    read_uploads,
)
from bot.core.jobs.job_view import JobView, job_view, with_file_problems
from bot.core.jobs.permutations import expand
from bot.core.jobs.prompt import (
    MAX_ASPECT,
    MAX_SEED,
    MIN_ASPECT,
    ParsedPrompt,
    PromptLimits,
    parse_prompt,
    size_for_aspect,
)
from bot.core.jobs.reactions import reaction_kind
from bot.core.models.profiles import profile_version
from bot.core.models.registry import serving_versions
from bot.core.moderation.banned_words import BannedWords
from engine import Engine
from engine.errors import EngineError
from engine.prompt_weights import is_weighted
from engine.sources import surely_loadable
from engine.types import ModelInfo
from storage.db import Database
from storage.ids import new_public_id
from storage.imagestore import ImageStore
from storage.models import (
    Event,
    EventKind,
    Image,
    ImagePrompt,
    Job,
    JobKind,
    JobStatus,
    ModelVersion,
    Origin,
    User,
    utcnow,
)
from storage.parameters import JobParameters
from storage.profiles import collecting_candidate, personal_owner_of_version
from storage.queue import Caps, announce, writing

GRID_SIZE = 4
_Row = TypeVar("_Row", Job, Image)


class JobService:
    def __init__(
        self,
        database: Database,
        store: ImageStore,
        engine: Engine,
        settings: Settings,
        worker_id: str,
        chance: random.Random | None = None,
        *,
        run_own_jobs: bool = True,
    ) -> None:
        """`chance` draws new seeds and blind layouts; None: the system's own randomness.
        A seeded one makes a scripted session (the loop demo) the same every time it runs.

        `run_own_jobs`: this process runs the jobs it writes itself (a CLI command that
        waits, the loop demo), so they are written claimed by `worker_id`; otherwise they go
        to the shared queue unclaimed, for whichever worker has room (the bot, --no-wait)."""
        self._database = database
        self._chance = chance or random.SystemRandom()
        self._store = store
        self._engine = engine
        self._settings = settings
        self._worker_id = worker_id
        self._run_own_jobs = run_own_jobs
        self._caps = Caps(per_owner=settings.queue_per_person, total=settings.queue_total)
        self._limits = PromptLimits(
            max_steps=settings.max_steps, max_guidance=settings.max_guidance
        )
        self._banned_words = BannedWords(settings.banned_words)

    def _new_seed(self) -> int:
        """A grid's first seed, when the person gave none."""
        return self._chance.randrange(_SEEDS)

    # --- asking for work -------------------------------------------------------------------

    def check_prompt(self, text: str, *, images: int = 0) -> ParsedPrompt:
        """The prompt parsed, or UserError for one that does not parse or holds a banned word,
        before the database or the engine is asked anything; ``images``: image prompts go with
        it (``parse_prompt``)."""
        self._banned_words.check(text)
        return parse_prompt(text, self._limits, images=images)

    async def read_uploads(self, uploads: Sequence[Upload]) -> ImagePrompts:
        """Image prompts as given, checked (``bot.core.jobs.image_prompts``), or UserError."""
        if not uploads:
            return NO_IMAGE_PROMPTS
        return await asyncio.to_thread(read_uploads, uploads, self._settings.max_upload_bytes)

    async def imagine_all(
        self,
        actor: Actor,
        text: str,
        *,
        confirmed: bool = False,
        images: Sequence[Upload] = (),
    ) -> list[JobView]:
        """Queue one grid for each prompt ``text`` stands for (``{a, b}`` options, ``--repeat``:
        ``bot.core.jobs.permutations``). Every prompt is checked before anything is written;
        above ``ask_above_prompts`` grids, ConfirmationNeeded unless ``confirmed``; a person on
        Discord needs queue places for all of them (with none of theirs waiting, up to
        ``max_prompts_at_once``). ``images``: image prompts every grid starts from."""
        prompts = expand(text, self._settings.max_prompts_at_once)
        for prompt in prompts:
            self.check_prompt(prompt, images=len(images))
        given = await self.read_uploads(images)
        if len(prompts) > self._settings.ask_above_prompts and not confirmed:
            raise ConfirmationNeeded(len(prompts))
        if len(prompts) > 1:
            await self._admit_all(actor, len(prompts))
        return [
            await self.imagine(actor, prompt, admitted=len(prompts) > 1, images=given)
            for prompt in prompts
        ]

    async def _admit_all(self, actor: Actor, count: int) -> None:
        """Refuse ``count`` grids at once over a cap, before any is queued: a person may fill
        their own places, or queue up to ``count`` when none of theirs waits."""
        if actor.origin is not Origin.DISCORD:
            return
        per_owner = max(self._caps.per_owner, count) - count + 1
        caps = Caps(per_owner=per_owner, total=max(1, self._caps.total - count + 1))
        async with writing(self._database) as session:
            user = await get_or_create_user(session, actor)
            await refuse_over_cap(session, user.id, caps)

    async def imagine(
        self,
        actor: Actor,
        text: str,
        *,
        compare: tuple[str, str] | None = None,
        admitted: bool = False,
        images: ImagePrompts = NO_IMAGE_PROMPTS,
    ) -> JobView:
        """Queue a 2x2 grid for a Midjourney-style prompt; refuses bad input before any write.
        ``compare``: two version names the grid compares blind, two pictures each (an operator's
        panel, such as the loop demo's), whatever the prompt or the serving versions say.
        ``images``: image prompts (``read_uploads``) the grid starts from, and whose shape it
        takes unless --ar says otherwise."""
        parsed = self.check_prompt(text, images=len(images))
        await self.ensure_default_model()
        async with self._database.sessions() as session:
            user = await find_user(session, actor)
            # Refused before the engine is asked anything about the prompt.
            refuse_if_blocked(user)
            defaults: dict[str, Any] = dict(user.defaults) if user is not None else {}
            version, against = (
                await self._versions_for(session, user, parsed, defaults)
                if compare is None
                else (
                    await self._model_version(session, compare[0]),
                    await self._model_version(session, compare[1]),
                )
            )
        info = await self._describe(version.base_model, f"model version {version.name!r}")
        _refuse_what_the_model_cannot_draw(parsed, info, version.name)
        aspect = parsed.aspect or (
            aspect_of(images.pictures[0], MIN_ASPECT, MAX_ASPECT)
            if images
            else _aspect_from_default(defaults.get("aspect"))
        )
        width, height = size_for_aspect(
            aspect, info.native_width, info.native_height, info.size_multiple
        )
        negative = ", ".join(
            part for part in (parsed.negative_prompt, defaults.get("negative_suffix", "")) if part
        )
        warnings = await self._prompt_warnings(
            version.base_model, parsed.prompt, info.max_prompt_tokens
        )
        parameters = JobParameters(
            width=width,
            height=height,
            steps=parsed.steps or int(defaults.get("steps", self._settings.default_steps)),
            guidance=(
                parsed.guidance
                if parsed.guidance is not None
                else float(defaults.get("guidance", self._settings.default_guidance))
            ),
            count=GRID_SIZE,
            aspect=f"{aspect[0]}:{aspect[1]}" if aspect is not None else None,
            chaos=(parsed.chaos if parsed.chaos is not None else self._settings.default_chaos)
            or None,
            tile=parsed.tile or None,
            images=len(images) or None,
            image_weight=(
                (parsed.image_weight if parsed.image_weight is not None else DEFAULT_IMAGE_WEIGHT)
                if images
                else None
            ),
            versions=(
                blind_layout(version.id, against.id, GRID_SIZE, self._chance)
                if against is not None
                else None
            ),
        )
        base_seed = parsed.seed if parsed.seed is not None else self._new_seed()
        # Kept before the job is written, which names them: a file no row names is harmless,
        # a row naming no file is a job that cannot be drawn.
        kept = await asyncio.to_thread(lambda: [self._store.put(png) for png in images.encoded])
        async with writing(self._database) as session:
            user = await get_or_create_user(session, actor)
            if not admitted:
                await self._admit(session, user, actor)
            job = self._new_job(
                owner=user,
                kind=JobKind.IMAGINE,
                prompt=parsed.prompt,
                negative_prompt=negative,
                parameters=parameters,
                base_seed=base_seed,
                model_version_id=version.id,
                actor=actor,
            )
            await self._queue(session, job)
            kept_sizes = zip(kept, images.pictures, strict=True)
            session.add_all(
                _image_prompts_of(job, [(sha, picture.size) for sha, picture in kept_sizes])
            )
        return await self.show(job.public_id, warnings=warnings)

    async def upscale(
        self, actor: Actor, job_id: str, index: int, *, creative: bool = False
    ) -> JobView:
        """U-click: an upscaled copy of image ``index`` (1-based) and an ``upscale`` event;
        ``creative`` (Upscale (Creative)): the enlargement's detail redrawn."""
        refine = (
            self._settings.upscale_creative_strength
            if creative
            else self._settings.upscale_refine_strength
        )

        def recipe(parent: Job, image: Image) -> tuple[JobParameters, int]:
            factor = 2
            parameters = JobParameters(
                width=image.width * factor,
                height=image.height * factor,
                source_width=image.width,
                source_height=image.height,
                factor=factor,
                refine_strength=refine,
                creative=creative or None,
                steps=parent.parameters.steps,
                guidance=parent.parameters.guidance,
                count=1,
            )
            # The refine pass starts from the image's own seed, so it stays reproducible.
            return parameters, image.seed

        return await self._from_clicked_image(
            actor, job_id, index, EventKind.UPSCALE, JobKind.UPSCALE, recipe
        )

    async def vary(self, actor: Actor, job_id: str, index: int, *, strong: bool) -> JobView:
        """V-click: a new grid of img2img variations of image ``index`` (1-based)."""
        settings = self._settings
        strength = settings.vary_strong_strength if strong else settings.vary_subtle_strength
        chaos = settings.vary_strong_chaos if strong else settings.vary_subtle_chaos

        def recipe(parent: Job, image: Image) -> tuple[JobParameters, int]:
            # Upscales are varied at the size their source grid was made at.
            width, height = parent.parameters.grid_size
            parameters = JobParameters(
                width=width,
                height=height,
                steps=parent.parameters.steps,
                guidance=parent.parameters.guidance,
                count=GRID_SIZE,
                strength=strength,
                variation="strong" if strong else "subtle",
                chaos=chaos or None,
                # Variations of a seamless picture stay seamless.
                tile=parent.parameters.tile,
            )
            return parameters, self._new_seed()

        click = EventKind.VARY_STRONG if strong else EventKind.VARY_SUBTLE
        return await self._from_clicked_image(
            actor, job_id, index, click, JobKind.VARIATION, recipe
        )

    async def edit(self, actor: Actor, job_id: str, index: int, edit: EditRequest) -> JobView:
        """Zoom out, pan, make square or vary region on image ``index`` (1-based): a new grid
        drawn around or into it (``bot.core.jobs.edits``), and the click as an event."""
        prompt = None
        if edit.prompt is not None:
            # A new prompt is held to what any prompt is (banned words, length), and takes
            # no --parameters: the picture's own go on.
            parsed = self.check_prompt(edit.prompt)
            if parsed != ParsedPrompt(prompt=parsed.prompt):
                raise UserError("A new prompt for an edit takes no --parameters.")
            prompt = parsed.prompt
        multiple = await self._size_multiple(job_id, index)

        def recipe(parent: Job, image: Image) -> tuple[JobParameters, int]:
            # An upscale is edited at the size its source grid was made at, as it is varied.
            parameters = edit.parameters(
                parent.parameters.grid_size,
                multiple,
                parent.parameters.steps,
                parent.parameters.guidance,
                GRID_SIZE,
            )
            return parameters, self._new_seed()

        return await self._from_clicked_image(
            actor, job_id, index, edit.click, JobKind.EDIT, recipe, prompt=prompt
        )

    async def _size_multiple(self, job_id: str, index: int) -> int:
        """What sizes step by for the model that drew image ``index`` of the job."""
        async with self._database.sessions() as session:
            image = await self._image_at(session, await self._finished_job(session, job_id), index)
            version = await session.get_one(ModelVersion, image.model_version_id)
        info = await self._describe(version.base_model, f"model version {version.name!r}")
        return info.size_multiple

    async def _from_clicked_image(
        self,
        actor: Actor,
        job_id: str,
        index: int,
        click: EventKind,
        kind: JobKind,
        recipe: Callable[[Job, Image], tuple[JobParameters, int]],
        *,
        prompt: str | None = None,
    ) -> JobView:
        """Queue the job a click on one image asks for, and record the click, in one go;
        ``prompt``: the new job's, instead of the clicked grid's."""
        async with writing(self._database) as session:
            user = await get_or_create_user(session, actor)
            parent = await self._finished_job(session, job_id)
            image = await self._image_at(session, parent, index)
            parameters, base_seed = recipe(parent, image)
            if parent.parameters.is_blind:
                parameters = parameters.model_copy(update={"blind": True})
            job = self._new_job(
                owner=user,
                kind=kind,
                prompt=prompt or parent.prompt,
                negative_prompt=parent.negative_prompt,
                parameters=parameters,
                base_seed=base_seed,
                # A picture of a blind grid is upscaled and varied by the version that drew it.
                model_version_id=image.model_version_id,
                actor=actor,
                parent=parent,
                parent_image=image,
            )
            await self._admit(session, user, actor)
            await self._queue(session, job)
            session.add(self._click(user, click, parent, image, job, actor))
        return await self.show(job.public_id)

    async def reroll(self, actor: Actor, job_id: str) -> JobView:
        """🔄: the same recipe with new seeds; the event marks the whole grid as passed over."""
        async with writing(self._database) as session:
            user = await get_or_create_user(session, actor)
            parent = await self._finished_job(session, job_id)
            if parent.kind is JobKind.UPSCALE:
                raise UserError("Re-roll works on grids; this job is an upscale.")
            parameters = parent.parameters
            compared = compared_versions(parent)
            if compared is not None:
                # A re-rolled blind grid compares the same two versions, placed afresh.
                layout = blind_layout(*compared, size=parameters.count, rng=self._chance)
                parameters = parameters.model_copy(update={"versions": tuple(layout)})
            job = self._new_job(
                owner=user,
                kind=JobKind.REROLL,
                prompt=parent.prompt,
                negative_prompt=parent.negative_prompt,
                parameters=parameters,
                base_seed=self._new_seed(),
                model_version_id=parent.model_version_id,
                actor=actor,
                parent=parent,
            )
            # A re-rolled variation grid is varied again from the same source image.
            job.parent_image_id = parent.parent_image_id
            await self._admit(session, user, actor)
            await self._queue(session, job)
            # ... and a grid from image prompts starts from the same pictures.
            given = await session.execute(
                select(ImagePrompt)
                .where(ImagePrompt.job_id == parent.id)
                .order_by(ImagePrompt.position)
            )
            session.add_all(
                _image_prompts_of(
                    job, [(row.sha256, (row.width, row.height)) for row in given.scalars()]
                )
            )
            session.add(self._click(user, EventKind.REROLL, parent, None, job, actor))
        return await self.show(job.public_id)

    async def queue_data_job(
        self,
        actor: Actor,
        kind: JobKind,
        parameters: JobParameters,
        *,
        model: str | None = None,
        with_job: Callable[[AsyncSession, Job], Awaitable[None]] | None = None,
    ) -> JobView:
        """Queue an export or a fine-tune (``bot.core.data.data_jobs`` says what it asks for),
        filed under the version of ``model`` if one is registered, else the serving one. The
        front end has checked that the person may ask for it. ``with_job`` writes what goes
        with the job in its transaction (the flywheel's round); what it raises undoes both."""
        assert not kind.makes_pictures
        await self.ensure_default_model(load=False)
        async with writing(self._database) as session:
            user = await get_or_create_user(session, actor)
            named = await _version_named(session, model_version_name(model)) if model else None
            version = named or await self._model_version(session, None)
            fine_tune = parameters.fine_tune
            training_seed = fine_tune.training.get("seed", 0) if fine_tune else 0
            job = self._new_job(
                owner=user,
                kind=kind,
                prompt="",
                negative_prompt="",
                parameters=parameters,
                base_seed=int(training_seed),
                model_version_id=version.id,
                actor=actor,
            )
            await self._queue(session, job)
            if with_job is not None:
                await with_job(session, job)
            views = await self._views(session, Job.id == job.id)
        return views[0]

    async def react(self, actor: Actor, image_id: str, emoji: str) -> dict[str, Any]:
        """Record a reaction on an image (❤️ ⭐ 👍 👎, or ❌ by the owner to delete)."""
        async with self._database.sessions.begin() as session:
            image = await self._image(session, image_id)
            job = await session.get_one(Job, image.job_id)
            return await self._reaction(session, actor, job, image, emoji)

    async def react_to_grid(self, actor: Actor, job_id: str, emoji: str) -> dict[str, Any]:
        """A reaction on a whole grid: it names no single image, so it is kept for the job."""
        async with self._database.sessions.begin() as session:
            job = await self._job(session, job_id)
            return await self._reaction(session, actor, job, None, emoji)

    async def _reaction(
        self, session: AsyncSession, actor: Actor, job: Job, image: Image | None, emoji: str
    ) -> dict[str, Any]:
        kind = reaction_kind(emoji)
        user = await get_or_create_user(session, actor)
        if kind is EventKind.DELETE and job.owner_id != user.id:
            raise PermissionDenied("Only the person who made this image can delete it.")
        event = self._click(user, kind, job, image, None, actor)
        event.detail = {"emoji": emoji}
        session.add(event)
        await session.flush()
        return {
            "event_id": event.id,
            "kind": kind.value,
            "image_id": image.public_id if image else None,
            "job_id": job.public_id,
            "position": image.position if image else None,
        }

    async def posted(
        self, job_id: str, *, guild_id: int | None, channel_id: int, message_id: int
    ) -> None:
        """Remember where a job's picture was posted in Discord (the latest post wins)."""
        async with self._database.sessions.begin() as session:
            await session.execute(
                update(Job)
                .where(Job.public_id == job_id)
                .values(
                    discord_guild_id=guild_id,
                    discord_channel_id=channel_id,
                    discord_message_id=message_id,
                )
            )

    # --- reading ---------------------------------------------------------------------------

    async def show(
        self,
        job_id: str,
        warnings: list[str] | None = None,
        *,
        reveal: bool = False,
        check_files: bool = False,
    ) -> JobView:
        """A job as a front end shows it; ``reveal`` (for admins and the operator's terminal)
        also names the model version behind each picture of a blind comparison, and
        ``check_files`` says which pictures' files are missing or damaged."""
        async with self._database.sessions() as session:
            views = await self._views(
                session, Job.public_id == job_id, warnings=warnings, reveal=reveal
            )
        if not views:
            raise NotFound(f"No job {job_id!r}.")
        if check_files:
            return await asyncio.to_thread(with_file_problems, views[0], self._store)
        return views[0]

    async def list_jobs(self, actor: Actor | None = None, limit: int = 20) -> list[JobView]:
        async with self._database.sessions() as session:
            which: ColumnElement[bool] = true()
            if actor is not None:
                user = await find_user(session, actor)
                if user is None:
                    return []
                which = Job.owner_id == user.id
            return await self._views(session, which, newest_first=limit)

    async def ensure_default_model(self, *, load: bool = True) -> ModelVersion | None:
        """The configured PICKLOOP_MODEL as a serving model version, registered on first use.

        A model configured for the first time serves: the operator just chose it. So that a
        model that cannot be had (a mistyped folder, a hub id while offline, a device that is
        not there) changes nothing, it is registered only once it is sure to load: a built-in
        model or a pipeline folder at once, anything else once it has loaded (``load``; it
        raises SetupError where it cannot). Without ``load``, such a model is left for later
        (None), and nothing heavy is imported."""
        name = model_version_name(self._settings.model)
        version = await self._registered(name)
        if version is not None:
            return version
        if not surely_loadable(self._settings.model):
            if not load:
                return None
            await self._describe(self._settings.model, f"PICKLOOP_MODEL {self._settings.model!r}")
        try:
            async with writing(self._database) as session:
                version = await _version_named(session, name)
                if version is None:
                    # A model configured for the first time serves: the operator just chose it.
                    await session.execute(update(ModelVersion).values(serving=False, share=0.0))
                    version = ModelVersion(name=name, base_model=self._settings.model, serving=True)
                    session.add(version)
                return version
        except IntegrityError:
            # Another process registered it at the same moment (PostgreSQL lets both look
            # first): the one row it wrote is the version.
            registered = await self._registered(name)
            if registered is None:
                raise
            return registered

    async def _registered(self, name: str) -> ModelVersion | None:
        async with self._database.sessions() as session:
            return await _version_named(session, name)

    async def _describe(self, model: str, called: str) -> ModelInfo:
        """The engine's facts about a model, loading it if need be; a model that cannot load
        is a fault of the installation, said in one line."""
        try:
            return await self._engine.describe(model)
        except EngineError as error:
            raise SetupError(
                f"{called} cannot be loaded: {error}. Fix the model or its device setting, or "
                "unset PICKLOOP_MODEL to serve the embedded model"
            ) from error

    # --- helpers ---------------------------------------------------------------------------

    def _new_job(
        self,
        *,
        owner: User,
        kind: JobKind,
        prompt: str,
        negative_prompt: str,
        parameters: JobParameters,
        base_seed: int,
        model_version_id: int,
        actor: Actor,
        parent: Job | None = None,
        parent_image: Image | None = None,
    ) -> Job:
        # A job this process runs itself is claimed from the start: if the process dies before
        # running it, its claim lapses and a sweep hands the job to another worker
        # (storage.queue).
        now = utcnow()
        claimed = self._run_own_jobs
        return Job(
            public_id=new_public_id(),
            owner_id=owner.id,
            kind=kind,
            parent_job_id=parent.id if parent else None,
            parent_image_id=parent_image.id if parent_image else None,
            prompt=prompt,
            negative_prompt=negative_prompt,
            parameters=parameters,
            base_seed=base_seed,
            model_version_id=model_version_id,
            status=JobStatus.QUEUED,
            origin=actor.origin,
            claimed_by=self._worker_id if claimed else None,
            lease_expires_at=_after(now, self._settings.job_lease_seconds) if claimed else None,
            created_at=now,
        )

    async def _admit(self, session: AsyncSession, user: User, actor: Actor) -> None:
        """Refuse a Discord request over a cap, counted in the database so that the caps hold
        across every process writing to the queue; the CLI's operator is not capped."""
        if actor.origin is not Origin.DISCORD:
            return
        await refuse_over_cap(session, user.id, self._caps)

    @staticmethod
    async def _queue(session: AsyncSession, job: Job) -> None:
        session.add(job)
        await session.flush()
        await announce(session, job.public_id)

    @staticmethod
    def _click(
        user: User,
        kind: EventKind,
        job: Job,
        image: Image | None,
        result: Job | None,
        actor: Actor,
    ) -> Event:
        return Event(
            user_id=user.id,
            kind=kind,
            job_id=job.id,
            image_id=image.id if image else None,
            position=image.position if image else None,
            result_job_id=result.id if result else None,
            origin=actor.origin,
        )

    async def _model_version(self, session: AsyncSession, name: str | None) -> ModelVersion:
        if name is None:
            serving = await serving_versions(session)
            if serving:
                return serving[0]
        wanted = name or model_version_name(self._settings.model)
        version = await _version_named(session, wanted)
        if version is not None:
            return version
        known = (await session.execute(select(ModelVersion.name))).scalars().all()
        raise NotFound(
            f"Unknown model {wanted!r}. Available: {', '.join(sorted(known)) or 'none'}."
        )

    async def _versions_for(
        self,
        session: AsyncSession,
        user: User | None,
        parsed: ParsedPrompt,
        defaults: dict[str, Any],
    ) -> tuple[ModelVersion, ModelVersion | None]:
        """The version a new grid draws with, and the one it compares blind with, if any.

        ``--model`` draws with that version alone (never someone else's personal profile).
        Otherwise the grid's profile (``--p``, or /settings) or the serving version draws it; on
        a share of grids, the flywheel's candidate to replace that version (the person's own
        profile's first, then the server's) is compared with it blind; failing that, two
        serving versions are compared blind in every grid."""
        if parsed.model is not None:
            version = await self._model_version(session, parsed.model)
            owner = await personal_owner_of_version(session, version.id)
            if owner is not None and (user is None or owner != user.id):
                raise NotFound(f"Unknown model {parsed.model!r}.")
            return version, None
        profiled = await profile_version(session, user, parsed.profile, defaults)
        version = profiled or await self._model_version(session, None)
        candidate = await collecting_candidate(
            session, user.id if user is not None else None, version.id
        )
        if candidate is not None and self._chance.random() < self._settings.flywheel_share:
            return version, await session.get_one(ModelVersion, candidate)
        if profiled is not None:
            return version, None
        return version, await self._compared_with(session, version)

    @staticmethod
    async def _compared_with(session: AsyncSession, version: ModelVersion) -> ModelVersion | None:
        """The other serving version, when two serve (a blind comparison); None otherwise."""
        others = [other for other in await serving_versions(session) if other.id != version.id]
        return others[0] if len(others) == 1 and version.serving else None

    async def _prompt_warnings(self, model: str, prompt: str, max_tokens: int) -> list[str]:
        tokens = await self._engine.count_tokens(model, prompt)
        if tokens <= max_tokens:
            return []
        return [
            f"The prompt is {tokens} tokens long; this model reads the first {max_tokens}, "
            "so the end of it has no effect."
        ]

    @staticmethod
    async def _job(session: AsyncSession, job_id: str) -> Job:
        return await _by_public_id(session, Job, job_id, "job")

    async def _finished_job(self, session: AsyncSession, job_id: str) -> Job:
        job = await self._job(session, job_id)
        if job.status is not JobStatus.DONE:
            raise UserError(
                f"Job {job_id} is {job.status.value}; only finished jobs have images to use."
            )
        return job

    @staticmethod
    async def _image_at(session: AsyncSession, job: Job, index: int) -> Image:
        images = await _images_of(session, job)
        if not 1 <= index <= len(images):
            raise UserError(
                f"Job {job.public_id} has images 1 to {len(images)}; there is no image {index}."
            )
        return images[index - 1]

    @staticmethod
    async def _image(session: AsyncSession, image_id: str) -> Image:
        return await _by_public_id(session, Image, image_id, "image")

    async def _views(
        self,
        session: AsyncSession,
        which: ColumnElement[bool],
        *,
        warnings: list[str] | None = None,
        reveal: bool = False,
        newest_first: int | None = None,
    ) -> list[JobView]:
        """The jobs ``which`` selects as front ends show them, in three queries however many
        there are: the jobs with their owners and parents, their images, the version names."""
        parent_job, parent_image = aliased(Job), aliased(Image)
        query = (
            select(Job, User.display_name, parent_job.public_id, parent_image.public_id)
            .join(User, Job.owner_id == User.id)
            .outerjoin(parent_job, Job.parent_job_id == parent_job.id)
            .outerjoin(parent_image, Job.parent_image_id == parent_image.id)
            .where(which)
            .options(selectinload(Job.images))
        )
        if newest_first is not None:
            query = query.order_by(Job.created_at.desc(), Job.id.desc()).limit(newest_first)
        rows = (await session.execute(query)).all()
        names = await _version_names(
            session,
            {job.model_version_id for job, *_ in rows}
            | {image.model_version_id for job, *_ in rows for image in job.images},
        )
        views = []
        for job, owner_name, parent_job_id, parent_image_id in rows:
            blind = job.parameters.is_blind and not reveal
            views.append(
                job_view(
                    job,
                    images=list(job.images),
                    model_name=HIDDEN if blind else names[job.model_version_id],
                    image_models=None
                    if blind
                    else [names[image.model_version_id] for image in job.images],
                    owner_name=owner_name,
                    parent_job_public_id=parent_job_id,
                    parent_image_public_id=parent_image_id,
                    store=self._store,
                    warnings=warnings,
                )
            )
        return views


async def _by_public_id(
    session: AsyncSession, model: type[_Row], public_id: str, what: str
) -> _Row:
    query = select(model).where(model.public_id == public_id)
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"No {what} {public_id!r}.")
    return row


async def _version_named(session: AsyncSession, name: str) -> ModelVersion | None:
    return (
        await session.execute(select(ModelVersion).where(ModelVersion.name == name))
    ).scalar_one_or_none()


async def _version_names(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    query = select(ModelVersion.id, ModelVersion.name).where(ModelVersion.id.in_(sorted(ids)))
    return {row.id: row.name for row in await session.execute(query)}


async def _images_of(session: AsyncSession, job: Job) -> list[Image]:
    query = select(Image).where(Image.job_id == job.id).order_by(Image.position)
    return list((await session.execute(query)).scalars().all())


def model_version_name(spec: str) -> str:
    """A short name for a model spec: hub ids as they are, local folders by their last part."""
    path = Path(spec)
    if path.is_absolute() or spec.startswith("."):
        return path.name[:100]
    return spec[:100]


def _image_prompts_of(job: Job, given: Sequence[tuple[str, tuple[int, int]]]) -> list[ImagePrompt]:
    """The rows naming a job's image prompts: (sha256, size) each, in the order given."""
    return [
        ImagePrompt(job_id=job.id, position=position, sha256=sha, width=size[0], height=size[1])
        for position, (sha, size) in enumerate(given)
    ]


def _refuse_what_the_model_cannot_draw(parsed: ParsedPrompt, info: ModelInfo, name: str) -> None:
    """Features some model families lack, refused before anything is queued."""
    if parsed.tile and not info.tiles:
        raise UserError(f"--tile needs a UNet model; {name} draws with a transformer.")
    if not info.takes_prompt_weights and is_weighted(parsed.prompt):
        raise UserError(
            f"{name} takes no prompt weights (`::`, `(words)1.3`); write the prompt without them."
        )


def _aspect_from_default(value: object) -> tuple[int, int] | None:
    if not isinstance(value, str) or ":" not in value:
        return None
    width, height = value.split(":", 1)
    return int(width), int(height)


# Leave room for the grid's seeds base .. base+3 within the 32-bit range people can type.
_SEEDS = MAX_SEED - GRID_SIZE + 2


def _after(moment: datetime, seconds: float) -> datetime:
    return moment + timedelta(seconds=seconds)
