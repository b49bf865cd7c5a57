"""One camera's street, advanced one frame at a time (pure Python, seeded).

Vehicles keep their lane, keep a gap to the one ahead, stop at the stop line on red (and on
yellow when too far to clear it), and the downward lane yields to pedestrians. Pedestrians
cross on red once the crosswalk is clear and walk the sidewalks. Planned incidents break
these rules on purpose: a red-light runner ignores the stop line; scripted near misses and
wrong-way drivers follow keyframes. Nothing else breaks them, so the ground truth is exact.
"""

from __future__ import annotations

import itertools
import random

from simulator.config import SceneConfig
from simulator.observe import Agent, Frame, report
from simulator.plan import Planned, Script
from simulator.scene import SIZES, SPEEDS, VEHICLE_MIX, Layout, Signal

GAP_PX = 12.0
JAM_SPEED = 0.35
JAM_SPAWN = 0.25


class CameraWorld:
    def __init__(
        self,
        rng: random.Random,
        layout: Layout,
        scene: SceneConfig,
        signal: Signal,
        fps: float,
        plans: list[Planned],
    ) -> None:
        self.rng, self.lay, self.cfg, self.signal, self.fps = rng, layout, scene, signal, fps
        self.plans = plans
        self._next_plan = 0
        self.agents: list[Agent] = []
        self.pending: list[Script] = []
        self._ids = 0
        self._spawn_at = {lane.name: rng.uniform(0, scene.vehicle_gap_s) for lane in layout.lanes}
        self._walk_at = [rng.uniform(0, scene.walker_gap_s) for _ in range(2)]
        self._cross_at = 0.0
        self._jams = [(p.start, p.end) for p in plans if p.kind == "congestion"]
        self._reserved = [(p.lane, p.start, p.end) for p in plans if p.lane and p.scripts]
        self.cancelled = 0
        self.injected: set[int] = set()  # runners and scripted road users

    # -- the tick ---------------------------------------------------------------------------
    def step(self, k: int) -> Frame:
        t = k / self.fps
        state = self.signal.state(t)
        if k > 0:
            self._move(t, 1.0 / self.fps, state)
        # after moving: a runner that enters now is first seen at the entry, before the line
        while self._next_plan < len(self.plans) and self.plans[self._next_plan].at <= t + 1e-9:
            self._trigger(self.plans[self._next_plan], t)
            self._next_plan += 1
        self._start_scripts(t)
        self._spawn(t, state)
        return report(self.agents, self.lay, self.fps, self.rng, t, state)

    def jammed(self, t: float) -> bool:
        return any(a <= t < b for a, b in self._jams)

    def _new_id(self) -> int:
        self._ids += 1
        return self._ids

    # -- incidents --------------------------------------------------------------------------
    def _trigger(self, plan: Planned, t: float) -> None:
        if plan.kind == "red_light_run":
            self._make_runner(plan.lane or "lane_1", t)
        elif plan.kind in ("near_miss", "wrong_way"):
            whole = plan.kind == "wrong_way"
            if self._lane_busy(plan.lane, whole) or self._peds_crossing():
                self.cancelled += 1
                return
            self.pending.extend(plan.scripts)

    def _lane_busy(self, lane: str | None, whole: bool) -> bool:
        limit = -1e9 if whole else self.lay.cw_y1 - 10
        return any(a.lane == lane and a.gy > limit for a in self.agents)

    def _make_runner(self, lane_name: str, t: float) -> None:
        lay = self.lay
        waiting = [
            a for a in self.agents if a.lane == lane_name and a.gy > lay.stop_y and not a.script
        ]
        if waiting:
            runner = min(waiting, key=lambda a: a.gy)
        elif self._entry_free(lane_name, SIZES["car"][1] * lay.size_k):
            runner = self._add_vehicle(lane_name, "car")
        else:
            self.cancelled += 1
            return
        pos = (t + self.signal.phase) % self.signal.cycle
        budget = max(0.5, min(2.5, self.signal.cycle - pos - 0.5))
        needed = (runner.gy - lay.stop_y + 1.0) / budget / (lay.speed_k * lay.scale(lay.stop_y))
        runner.speed = max(runner.speed, needed)
        runner.runner = True
        self.injected.add(runner.track_id)

    def _start_scripts(self, t: float) -> None:
        ready = [s for s in self.pending if s.keys[0][0] <= t + 1e-9]
        for script in ready:
            self.pending.remove(script)
            w0, h0 = SIZES[script.cls]
            kind = "vehicle" if script.lane else "crosser"
            agent = Agent(
                self._new_id(),
                script.cls,
                kind,
                script.lane,
                0.0,
                0.0,
                -1,
                script.speed,
                round(self.rng.uniform(0.75, 0.95), 2),
                w0 * self.lay.size_k,
                h0 * self.lay.size_k,
                script=script,
            )
            agent.gx, agent.gy = _at(script, t)
            self.agents.append(agent)
            self.injected.add(agent.track_id)

    # -- motion -----------------------------------------------------------------------------
    def _move(self, t: float, dt: float, state: str) -> None:
        keep: list[Agent] = []
        jam = self.jammed(t)
        for lane in self.lay.lanes:
            queue = [a for a in self.agents if a.lane == lane.name]
            queue.sort(key=lambda a: a.gy * -lane.direction)
            front: Agent | None = None
            for agent in queue:
                if agent.script is None or not self._follow_script(agent, t):
                    self._drive(agent, front, lane.direction, t, dt, state, jam)
                front = agent
        for agent in self.agents:
            if agent.lane is None and (agent.script is None or not self._follow_script(agent, t)):
                self._walk(agent, dt)
        for agent in self.agents:
            if not self._gone(agent):
                keep.append(agent)
        self.agents = keep

    def _follow_script(self, agent: Agent, t: float) -> bool:
        """Place a scripted agent; False once its script is over and it moves on its own."""
        script = agent.script
        assert script is not None
        if t <= script.keys[-1][0] + 1e-9:
            agent.gx, agent.gy = _at(script, t)
            return True
        if script.then == "despawn":
            agent.gy = -1e9  # marks it gone
            return True
        agent.script = None
        return False

    def _drive(
        self, a: Agent, front: Agent | None, d: int, t: float, dt: float, state: str, jam: bool
    ) -> None:
        lay = self.lay
        h = a.h0 * lay.scale(a.gy)
        slow = JAM_SPEED if jam and d < 0 and not a.runner else 1.0
        app = a.speed * lay.speed_k * lay.scale(a.gy) * slow
        if d < 0:
            new = a.gy - app * dt
            if front is not None:
                new = max(new, front.gy + GAP_PX * lay.size_k + h)
            if (
                a.gy > lay.stop_y >= new
                and not a.runner
                and not _may_cross(state, a.gy - lay.stop_y, app)
            ):
                new = lay.stop_y + 0.5
            a.gy = min(new, a.gy)
            return
        new = a.gy + app * dt
        if front is not None:
            new = min(new, front.gy - front.h0 * lay.scale(front.gy) - GAP_PX * lay.size_k)
        if a.gy <= lay.yield_y < new and (state != "green" or self._peds_crossing()):
            new = lay.yield_y - 0.5
        a.gy = max(new, a.gy)

    def _walk(self, a: Agent, dt: float) -> None:
        app = a.speed * self.lay.speed_k * self.lay.scale(a.gy) * dt
        if a.kind == "crosser":
            a.gx += a.direction * app
        else:
            a.gy += a.direction * app

    def _gone(self, a: Agent) -> bool:
        lay = self.lay
        if a.gy < -1e8:
            return True
        if a.kind == "vehicle":
            return a.gy < 0.12 * lay.height if a.direction < 0 else a.gy - 0.5 * a.h0 > lay.height
        if a.kind == "crosser":
            return not lay.walk_left - 1 <= a.gx <= lay.walk_right + 1
        return a.gy < 0 or a.gy - a.h0 > lay.height

    def _peds_crossing(self) -> bool:
        return any(a.kind == "crosser" for a in self.agents)

    # -- spawning ---------------------------------------------------------------------------
    def _spawn(self, t: float, state: str) -> None:
        jam = self.jammed(t)
        for lane in self.lay.lanes:
            if t >= self._spawn_at[lane.name] and not self._reserved_at(lane.name, t):
                cls = _pick(self.rng.random())
                if self._entry_free(lane.name, SIZES[cls][1] * self.lay.size_k):
                    self._add_vehicle(lane.name, cls)
                    gap = self.cfg.vehicle_gap_s * (JAM_SPAWN if jam and lane.direction < 0 else 1)
                    self._spawn_at[lane.name] = t + self.rng.expovariate(1.0 / gap)
        for side in (0, 1):
            if t >= self._walk_at[side]:
                self._add_person("walker", side)
                self._walk_at[side] = t + self.rng.expovariate(1.0 / self.cfg.walker_gap_s)
        if state == "red" and t >= self._cross_at and self._may_start_crossing(t):
            self._add_person("crosser", self.rng.randrange(2))
            self._cross_at = t + self.rng.expovariate(1.0 / self.cfg.crossing_gap_s)

    def _reserved_at(self, lane: str, t: float) -> bool:
        return any(name == lane and a <= t <= b for name, a, b in self._reserved)

    def _entry_free(self, lane_name: str, h_new: float) -> bool:
        lay = self.lay
        lane = next(x for x in lay.lanes if x.name == lane_name)
        inside = [a for a in self.agents if a.lane == lane_name]
        if not inside:
            return True
        gap = GAP_PX * lay.size_k
        if lane.direction < 0:
            last = max(inside, key=lambda a: a.gy)
            return lay.height - h_new >= last.gy + gap
        last = min(inside, key=lambda a: a.gy)
        return last.gy - last.h0 * lay.scale(last.gy) >= 0.2 * lay.height + gap

    def _add_vehicle(self, lane_name: str, cls: str) -> Agent:
        lay, rng = self.lay, self.rng
        lane = next(x for x in lay.lanes if x.name == lane_name)
        w0, h0 = SIZES[cls]
        gy = lay.height if lane.direction < 0 else 0.2 * lay.height
        gx = lane.centre + rng.uniform(-0.04, 0.04) * (lane.x2 - lane.x1)
        agent = Agent(
            self._new_id(),
            cls,
            "vehicle",
            lane_name,
            gx,
            gy,
            lane.direction,
            rng.uniform(*SPEEDS[cls]),
            round(rng.uniform(0.55, 0.95), 2),
            w0 * lay.size_k,
            h0 * lay.size_k,
        )
        self.agents.append(agent)
        return agent

    def _add_person(self, kind: str, side: int) -> None:
        lay, rng = self.lay, self.rng
        w0, h0 = SIZES["person"]
        if kind == "walker":
            direction = rng.choice((-1, 1))
            gx = lay.walk_left if side == 0 else lay.walk_right
            gx += rng.uniform(-0.02, 0.02) * lay.width
            gy = lay.height if direction < 0 else h0 * lay.size_k * 0.5
        else:
            direction = 1 if side == 0 else -1
            gx = lay.walk_left if side == 0 else lay.walk_right
            band = lay.cw_y2 - lay.cw_y1
            gy = rng.uniform(lay.cw_y1 + 0.45 * band, lay.cw_y2 - 0.1 * band)
        self.agents.append(
            Agent(
                self._new_id(),
                "person",
                kind,
                None,
                gx,
                gy,
                direction,
                rng.uniform(*SPEEDS["person"]),
                round(rng.uniform(0.5, 0.9), 2),
                w0 * lay.size_k,
                h0 * lay.size_k,
            )
        )

    def _may_start_crossing(self, t: float) -> bool:
        """Walk phase: from 4 s into red, time left to cross, crosswalk free of vehicles."""
        sig, lay = self.signal, self.lay
        pos = (t + sig.phase) % sig.cycle
        left = sig.cycle - pos
        slowest = SPEEDS["person"][0] * lay.speed_k * lay.scale(lay.cw_y1)
        if (
            pos - sig.green - sig.yellow < 4.0
            or left < (lay.walk_right - lay.walk_left) / slowest + 1
        ):
            return False
        return self._crosswalk_clear()

    def _crosswalk_clear(self) -> bool:
        lay = self.lay
        for a in self.agents:
            if a.kind != "vehicle":
                continue
            top, bottom = a.gy - a.h0 * lay.scale(a.gy), a.gy
            if a.direction < 0 and a.gy < lay.stop_y and bottom > lay.cw_y1 - 20:
                return False
            if a.direction > 0 and a.gy > lay.yield_y and top < lay.cw_y2 + 20:
                return False
        return True

    # -- reporting --------------------------------------------------------------------------


def _pick(u: float) -> str:
    for cls, share in VEHICLE_MIX:
        if u < share:
            return cls
        u -= share
    return VEHICLE_MIX[0][0]


def _may_cross(state: str, dist: float, app: float) -> bool:
    """Green: go. Yellow: only when the line is less than a second away. Red: stop."""
    return state == "green" or (state == "yellow" and dist <= app)


def _at(script: Script, t: float) -> tuple[float, float]:
    keys = script.keys
    if t <= keys[0][0]:
        return keys[0][1], keys[0][2]
    for (t0, x0, y0), (t1, x1, y1) in itertools.pairwise(keys):
        if t <= t1:
            f = (t - t0) / (t1 - t0) if t1 > t0 else 1.0
            return x0 + f * (x1 - x0), y0 + f * (y1 - y0)
    return keys[-1][1], keys[-1][2]
