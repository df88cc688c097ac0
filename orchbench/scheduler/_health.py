"""Failures the dispatcher reacts to: a breaker per host, and a cooldown per deployment.

:class:`Health` is the half of :class:`~orchbench.scheduler._dispatch.Dispatcher` that
remembers what went wrong:

- **A breaker per host.** When a host refuses a connection
  (:class:`~orchbench.errors.BackendUnavailable`), :meth:`Health.trip` opens that host's
  breaker for ``cooldown_s``: its deployments get no slot, a task whose candidates all run
  only there is failed at once with the reason, and tasks with another deployment go there.
  The profile's own host (the one implicit deployment of a model without ``deployments``) is
  host ``""``.
- **A cooldown per deployment.** After ``cooldown_failures`` failures in a row on one
  (model, host), that deployment is not chosen for ``cooldown_s``; a model with several
  deployments cools down only once all of them do (:meth:`Health.cooling`).
"""

from __future__ import annotations

import asyncio
import logging

from orchbench.config import Profile

logger = logging.getLogger("orchbench")


def deployment_key(model: str, host: str) -> str:
    """The key of one deployment in cooldown tables: the model's name on the profile's host."""
    return f"{model}\x00{host}" if host else model


def _label(key: str) -> str:
    model, _, host = key.partition("\x00")
    return f"{model} on {host}" if host else model


class Health:
    """Breakers per host and cooldowns per deployment (see the module docstring).

    A mixin: the class using it provides ``profile``, ``waiting`` and ``dispatch()``.
    """

    profile: Profile
    waiting: int

    def dispatch(self) -> None:  # pragma: no cover - provided by the dispatcher
        """Grant free slots to waiting tasks."""
        raise NotImplementedError

    def _init_health(self) -> None:
        self._failures: dict[str, int] = {}
        self.cooling_until: dict[str, float] = {}
        """Loop time at which each cooling deployment (:func:`deployment_key`) may be chosen."""
        self._cooling_loop: asyncio.AbstractEventLoop | None = None
        self._broken: dict[str, tuple[float, str, asyncio.AbstractEventLoop]] = {}
        self._broken_until = 0.0
        """Nonzero while some breaker may be open (the latest closing time)."""

    # -- the breaker per host --------------------------------------------------------------

    def trip(self, reason: str, host: str = "") -> None:
        """``host`` refused a connection: give its deployments no slot for ``cooldown_s``.

        New requests that can only run there get :data:`GONE` at once and waiting ones are
        sent away, instead of each task waiting out its own cooldown. ``reason`` is the one
        clear message their results carry (:meth:`broken`).
        """
        cooldown = self.profile.settings.cooldown_s
        if cooldown <= 0:
            return
        loop = asyncio.get_running_loop()
        was_open = self.broken(host) is not None
        until = loop.time() + cooldown
        self._broken[host] = (until, reason, loop)
        self._broken_until = max(self._broken_until, until)
        loop.call_at(until, self._breaker_closes)
        if not was_open:
            where = f"host {host}" if host else "the engine's host"
            logger.warning(
                "%s refuses connections (%s); not using it for %gs", where, reason, cooldown
            )
        if self.waiting:
            self.dispatch()

    def broken(self, host: str = "") -> str | None:
        """Why ``host``'s breaker is open now (see :meth:`trip`), or ``None``."""
        if not self._broken_until:
            return None
        entry = self._broken.get(host)
        if entry is None:
            return None
        until, reason, opened_on = entry
        loop = asyncio.get_running_loop()
        if loop is opened_on and loop.time() < until:
            return reason
        del self._broken[host]
        if not self._broken:
            self._broken_until = 0.0
        return None

    def broken_for(self, names: tuple[str, ...]) -> str | None:
        """Why a task with candidates ``names`` cannot run: the first open breaker, or None."""
        if not self._broken_until:
            return None
        models = self.profile.models
        for name in names:
            model = models.get(name)
            hosts = [d.host for d in model.deployments] if model and model.deployments else [""]
            for host in hosts:
                reason = self.broken(host)
                if reason is not None:
                    return reason
        return None

    def _breaker_closes(self) -> None:
        if self.waiting:
            self.dispatch()

    # -- cooldowns per deployment ----------------------------------------------------------

    def outcome(self, name: str, ok: bool, host: str = "") -> None:
        """Count a deployment's consecutive failures; after ``cooldown_failures`` cool it.

        A cooled deployment is not chosen for ``cooldown_s``; a dispatch runs when it ends,
        so a task waiting only for it goes on then.
        """
        key = deployment_key(name, host)
        if ok:
            if self._failures:
                self._failures.pop(key, None)
            return
        count = self._failures.get(key, 0) + 1
        settings = self.profile.settings
        if count < settings.cooldown_failures:
            self._failures[key] = count
            return
        self._failures.pop(key, None)
        if settings.cooldown_s <= 0:
            return
        loop = asyncio.get_running_loop()
        until = loop.time() + settings.cooldown_s
        self._cooling_loop = loop
        self.cooling_until[key] = until
        loop.call_at(until, self._end_cooldown, key, until)
        if self.waiting:
            self.dispatch()  # retries waiting for this model move on now
        logger.warning(
            "model %s failed %d times in a row; not choosing it for %gs",
            _label(key),
            count,
            settings.cooldown_s,
        )

    def _end_cooldown(self, key: str, until: float) -> None:
        # A timer may fire a clock tick early, so end the cooldown here rather than by
        # comparing times in _free.
        if self.cooling_until.get(key) == until:
            del self.cooling_until[key]
        if self.waiting:
            self.dispatch()

    def cooling(self, name: str) -> bool:
        """Whether model ``name`` is cooling down now (every one of its deployments)."""
        if not self.cooling_until:
            return False
        model = self.profile.models.get(name)
        if model is not None and model.deployments:
            return all(self.cooling_key(deployment_key(name, d.host)) for d in model.deployments)
        return self.cooling_key(name)

    def cooling_key(self, key: str) -> bool:
        """Whether the deployment ``key`` (:func:`deployment_key`) is cooling down now."""
        if not self.cooling_until:
            return False
        until = self.cooling_until.get(key)
        if until is None:
            return False
        loop = asyncio.get_running_loop()
        if loop is not self._cooling_loop:
            self._move_cooldowns(loop)
            if key not in self.cooling_until:
                return False
        if until > loop.time():
            return True
        del self.cooling_until[key]
        return False

    def _move_cooldowns(self, loop: asyncio.AbstractEventLoop) -> None:
        # Another event loop (a later run_sync): the old loop's wake-up timers died with it.
        # Cooldowns that still make sense on this loop's clock get new timers; the rest
        # (a fresh virtual clock, say) are forgiven.
        self._cooling_loop = loop
        now = loop.time()
        longest = self.profile.settings.cooldown_s
        for key, until in list(self.cooling_until.items()):
            if now < until <= now + longest:
                loop.call_at(until, self._end_cooldown, key, until)
            else:
                del self.cooling_until[key]
