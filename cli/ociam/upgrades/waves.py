"""Staged rollouts: the waves of ``ociam up --waves``.

``--waves canary=pori,early=porvoo+seinajoki,rest`` is three waves in order: a wave is
``NAME=CITY[+CITY...]``, and ``rest`` (or ``NAME=rest``) is every selected city no other
wave names. ``--waves defaults`` takes ``upgrades.waves`` of the environment's all.yml.
Without ``--all`` the waves themselves select the cities (``rest`` then needs --all).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ociam.catalog.environment import RolloutWave


class WaveError(ValueError):
    """A wave specification that cannot be used (exit 2)."""


@dataclass(frozen=True)
class Wave:
    name: str
    cities: tuple[str, ...]


def parse_spec(spec: str, declared: Sequence[RolloutWave]) -> list[RolloutWave]:
    if spec.strip() == "defaults":
        if not declared:
            raise WaveError("--waves defaults: the environment declares no upgrades.waves")
        return list(declared)
    waves: list[RolloutWave] = []
    for index, item in enumerate(p.strip() for p in spec.split(",")):
        if not item:
            raise WaveError(f"--waves {spec}: empty wave")
        name, _, cities = item.partition("=")
        if not cities:
            name, cities = (item, "rest") if item == "rest" else (f"wave{index + 1}", item)
        try:
            if cities == "rest":
                waves.append(RolloutWave(name=name, rest=True))
            else:
                waves.append(RolloutWave(name=name, cities=cities.split("+")))
        except ValueError as exc:
            raise WaveError(f"--waves {spec}: wave {item!r}: {exc}") from None
    return waves


def resolve(
    waves: Sequence[RolloutWave], known: Sequence[str], selected: Sequence[str] | None
) -> list[Wave]:
    """Concrete waves over ``selected`` cities (None: only the cities the waves name)."""
    names = [w.name for w in waves]
    if len(set(names)) != len(names):
        raise WaveError(f"wave names repeat: {', '.join(names)}")
    if sum(w.rest for w in waves) > 1:
        raise WaveError("only one wave can be the rest")
    placed: list[str] = []
    for wave in waves:
        for city in wave.cities:
            if city not in known:
                raise WaveError(f"wave {wave.name}: no city {city!r} (cities: {', '.join(known)})")
            if city in placed:
                raise WaveError(f"wave {wave.name}: {city} is already in an earlier wave")
            if selected is not None and city not in selected:
                raise WaveError(f"wave {wave.name}: {city} is not among the selected cities")
            placed.append(city)
    pool = list(selected) if selected is not None else list(placed)
    if selected is None and any(w.rest for w in waves):
        raise WaveError("a rest wave needs --all (which cities would be the rest?)")
    result = []
    for wave in waves:
        cities = [c for c in pool if c not in placed] if wave.rest else list(wave.cities)
        result.append(Wave(wave.name, tuple(cities)))
    missing = [c for c in pool if c not in {x for w in result for x in w.cities}]
    if missing:
        raise WaveError(f"cities in no wave: {', '.join(missing)} (add a rest wave)")
    return [w for w in result if w.cities]
