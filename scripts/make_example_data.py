"""Generate the bundled example data in data/ (deterministic; rerun to reproduce the files exactly).

demand.csv: daily demand of 8 stores over two years, long layout (store, date, demand, temperature).
Each store has its own level, a linear trend, a weekly pattern, and a response to the previous
day's temperature (an exogenous input), plus autocorrelated noise. The trend means the test period
lies above most of what training saw, which is what ``data.detrend: last_value`` is for.
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


def main() -> None:
    out = ROOT / "data"
    out.mkdir(exist_ok=True)
    demand().to_csv(out / "demand.csv", index=False)
    print(f"wrote {out / 'demand.csv'}")


if __name__ == "__main__":
    main()
