"""Generate the bundled example data in data/ (deterministic; rerun to reproduce the files exactly).

- demand.csv (forecast): daily demand of 8 stores over two years, long layout (store, date,
  demand, temperature). Each store has its own level, a linear trend, a weekly pattern, and a
  response to the previous day's temperature (an exogenous input), plus autocorrelated noise. The
  trend means the test period lies above most of what training saw, which is what
  ``data.detrend: last_value`` is for.
- activity.csv (classify): accelerometer-like recordings of variable length (3 channels on very
  different scales) labelled Standing, Walking or Running.
- machine.csv (tag): a vibration signal with a state per step (idle, running, fault); a fault is
  a burst that is only recognisable from the steps around it.
- reviews.csv (text classification): short product reviews labelled positive or negative.
- stories.txt (generate): short sentences from a small grammar, for a character-level model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def demand(seed: int = 7, stores: int = 8, days: int = 730) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2023-01-01", periods=days, freq="D")
    t = np.arange(days)
    frames = []
    for store in range(stores):
        level = rng.uniform(80, 160)
        trend = rng.uniform(0.02, 0.12)
        weekly = rng.normal(0, 1, 7)
        weekly = 12 * (weekly - weekly.mean()) / weekly.std()
        temp = 15 + 10 * np.sin(2 * np.pi * (t - 100) / 365.25) + np.cumsum(rng.normal(0, 0.6, days)) * 0.3
        temp = temp + rng.normal(0, 1.5, days)
        noise = np.zeros(days)
        for i in range(1, days):
            noise[i] = 0.6 * noise[i - 1] + rng.normal(0, 3.0)
        lagged_temp = np.concatenate([[temp[0]], temp[:-1]])
        values = level + trend * t + weekly[t % 7] + 1.5 * (lagged_temp - 15) + noise
        frames.append(
            pd.DataFrame(
                {
                    "store": f"S{store + 1:02d}",
                    "date": dates.strftime("%Y-%m-%d"),
                    "demand": values.round(2),
                    "temperature": temp.round(1),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def activity(seed: int = 11, recordings: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    classes = {"Standing": (0.0, 0.05), "Walking": (1.8, 0.6), "Running": (3.2, 1.4)}
    rows = []
    for index in range(recordings):
        label = list(classes)[index % 3]
        frequency, amplitude = classes[label]
        length = int(rng.integers(30, 90))
        t = np.arange(length) / 10.0
        phase = rng.uniform(0, 2 * np.pi)
        motion = amplitude * np.sin(2 * np.pi * frequency * t / 3 + phase)
        frame = pd.DataFrame(
            {
                "recording": f"r{index:04d}",
                "step": np.arange(length),
                "acc_x": (motion + rng.normal(0, 0.15, length)).round(4),
                "acc_z": (9.81 + 0.5 * motion**2 + rng.normal(0, 0.1, length)).round(4),  # gravity: offset channel
                "heart_rate": (70 + 40 * amplitude + rng.normal(0, 5, length)).round(1),  # another scale entirely
                "activity": label,
            }
        )
        rows.append(frame)
    return pd.concat(rows, ignore_index=True)


def machine(seed: int = 5, runs: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for index in range(runs):
        length = int(rng.integers(40, 80))
        state = np.array(["idle"] * length, dtype=object)
        start, stop = sorted(rng.integers(5, length - 5, 2))
        state[start:stop] = "running"
        if rng.random() < 0.7 and stop - start > 8:
            fault = int(rng.integers(start + 2, stop - 4))
            state[fault : fault + 3] = "fault"
        level = np.where(state == "idle", 0.1, 1.0)
        vibration = level * np.sin(np.arange(length) * 1.3) + rng.normal(0, 0.1, length)
        vibration[state == "fault"] += rng.choice([-1, 1]) * 2.5 * np.array([1, -1, 1])[: (state == "fault").sum()]
        frames.append(
            pd.DataFrame({"run": f"m{index:03d}", "t": np.arange(length), "vibration": vibration.round(4), "state": state})
        )
    return pd.concat(frames, ignore_index=True)


def reviews(seed: int = 3, count: int = 1200) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    things = ["kettle", "lamp", "chair", "phone case", "backpack", "blender", "desk", "headset"]
    good = ["works perfectly", "is sturdy and well made", "exceeded my expectations", "was worth every penny", "arrived quickly"]
    bad = ["broke after a week", "feels cheap", "stopped working", "was a waste of money", "arrived damaged"]
    praise, complaint = (
        ["Love it.", "Highly recommended!", "Five stars."],
        ["Very disappointed.", "Would not buy again.", "Avoid."],
    )
    neutral = ["I bought it for my office.", "My sister has the same one.", "It comes in three colours."]
    rows = []
    for index in range(count):
        positive = bool(index % 2)
        thing = rng.choice(things)
        # Some reviews mix a good and a bad point; the closing remark carries the verdict.
        body = f"The {thing} {rng.choice(good if positive else bad)}."
        if rng.random() < 0.3:
            body += f" Sadly it {rng.choice(bad)}." if positive else f" It {rng.choice(good)}, but still."
        text = f"{rng.choice(neutral)} {body} {rng.choice(praise if positive else complaint)}"
        rows.append({"review_id": index, "text": text, "sentiment": "positive" if positive else "negative"})
    return pd.DataFrame(rows)


def stories(seed: int = 8, sentences: int = 2500) -> str:
    rng = np.random.default_rng(seed)
    names = ["Ada", "Ben", "Cleo", "Dev", "Emil", "Fay"]
    verbs = ["found", "painted", "lost", "carried", "fixed", "opened"]
    things = ["a red kite", "the old boat", "a small box", "the blue door", "a paper map", "the green lamp"]
    places = ["by the river", "in the attic", "at the market", "under the bridge", "near the mill"]
    endings = ["and smiled.", "before dark.", "with a friend.", "one rainy day.", "and went home."]
    out = []
    for _ in range(sentences):
        out.append(f"{rng.choice(names)} {rng.choice(verbs)} {rng.choice(things)} {rng.choice(places)} {rng.choice(endings)}")
    return "\n".join(out) + "\n"


def main() -> None:
    out = ROOT / "data"
    out.mkdir(exist_ok=True)
    demand().to_csv(out / "demand.csv", index=False)
    activity().to_csv(out / "activity.csv", index=False)
    machine().to_csv(out / "machine.csv", index=False)
    reviews().to_csv(out / "reviews.csv", index=False)
    (out / "stories.txt").write_text(stories(), encoding="utf-8")
    for name in ("demand.csv", "activity.csv", "machine.csv", "reviews.csv", "stories.txt"):
        print(f"wrote {out / name}")


if __name__ == "__main__":
    main()
