#!/usr/bin/env python3
"""Write the spaceflights raw data: small, synthetic, deterministic.

    python scripts/make_data.py                 # -> data/01_raw/*.csv
    python scripts/make_data.py --s3 BUCKET     # and upload to s3://BUCKET/01_raw/

The tables have the columns of Kedro's spaceflights tutorial (companies,
shuttles, reviews) and the same dirty spellings ("t"/"f", "90%", "$1,325.0")
so that the data_processing nodes have real work to do. Shuttle prices are a
linear function of the features plus noise, so the model has something to
find. Only the standard library is used (plus boto3 for --s3), and one seeded
``random.Random`` makes every run byte-identical.

--s3 uses boto3's usual configuration, so AWS_ENDPOINT_URL points it at a
local moto server in tests; the bucket is created when missing.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import sys
from pathlib import Path

SEED = 20240601
N_COMPANIES = 80
N_SHUTTLES = 300
RAW_DIR = Path(__file__).resolve().parent.parent / "data" / "01_raw"

LOCATIONS = ["Niue", "Anguilla", "Russian Federation", "Barbados", "Sao Tome", "Malta"]
SHUTTLE_TYPES = ["Type V5", "Type F5", "Type A3", "Type B1"]
ENGINE_TYPES = ["Quantum", "Plasma", "Nuclear"]
ENGINE_VENDORS = ["ThetaBase Services", "Banks, Wood and Phillips", "Fowler-Hall"]
POLICIES = ["strict", "moderate", "flexible"]


def _flag(rng: random.Random, p_true: float) -> str:
    """The raw data's boolean spelling."""
    return "t" if rng.random() < p_true else "f"


def make_companies(rng: random.Random) -> list[dict]:
    """Companies; a few have no rating (dropped later by the pipeline)."""
    rows = []
    for company_id in range(1, N_COMPANIES + 1):
        rating = "" if rng.random() < 0.05 else f"{rng.randint(50, 100)}%"
        rows.append(
            {
                "id": company_id,
                "company_rating": rating,
                "company_location": rng.choice(LOCATIONS),
                "total_fleet_count": rng.randint(1, 12),
                "iata_approved": _flag(rng, 0.6),
            }
        )
    return rows


def make_shuttles_and_reviews(
    rng: random.Random, companies: list[dict]
) -> tuple[list[dict], list[dict]]:
    """Shuttles, priced from their features, and one review row per shuttle."""
    shuttles, reviews = [], []
    for shuttle_id in range(1, N_SHUTTLES + 1):
        company = rng.choice(companies)
        engines = rng.randint(1, 4)
        capacity = rng.randint(2, 8)
        crew = rng.randint(1, 6)
        d_check, moon = _flag(rng, 0.7), _flag(rng, 0.5)
        review = round(rng.uniform(60, 100), 1)
        rating = float(company["company_rating"].rstrip("%") or 75) / 100
        price = (
            400
            + 180 * engines
            + 95 * capacity
            + 40 * crew
            + 120 * (d_check == "t")
            + 60 * (moon == "t")
            + 150 * (company["iata_approved"] == "t")
            + 300 * rating
            + 4 * review
            + rng.gauss(0, 60)
        )
        shuttles.append(
            {
                "id": shuttle_id,
                "shuttle_location": rng.choice(LOCATIONS),
                "shuttle_type": rng.choice(SHUTTLE_TYPES),
                "engine_type": rng.choice(ENGINE_TYPES),
                "engine_vendor": rng.choice(ENGINE_VENDORS),
                "engines": engines,
                "passenger_capacity": capacity,
                "cancellation_policy": rng.choice(POLICIES),
                "crew": crew,
                "d_check_complete": d_check,
                "moon_clearance_complete": moon,
                "price": f"${price:,.1f}",
                "company_id": company["id"],
            }
        )
        reviews.append(
            {
                "shuttle_id": shuttle_id,
                "review_scores_rating": "" if rng.random() < 0.03 else review,
                "review_scores_comfort": rng.randint(6, 10),
                "review_scores_amenities": rng.randint(6, 10),
                "review_scores_trip": rng.randint(6, 10),
                "review_scores_crew": rng.randint(6, 10),
                "review_scores_location": rng.randint(6, 10),
                "review_scores_price": rng.randint(6, 10),
                "number_of_reviews": rng.randint(0, 120),
                "reviews_per_month": round(rng.uniform(0.1, 9.0), 2),
            }
        )
    return shuttles, reviews


def to_csv(rows: list[dict]) -> bytes:
    """CSV bytes with a header, "\\n" line ends (same bytes on every OS)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def make_tables(seed: int = SEED) -> dict[str, bytes]:
    """All three raw tables as {file name: CSV bytes}."""
    rng = random.Random(seed)
    companies = make_companies(rng)
    shuttles, reviews = make_shuttles_and_reviews(rng, companies)
    return {
        "companies.csv": to_csv(companies),
        "shuttles.csv": to_csv(shuttles),
        "reviews.csv": to_csv(reviews),
    }


def write_local(tables: dict[str, bytes], raw_dir: Path) -> None:
    """Write the tables under raw_dir, creating it."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    for name, body in tables.items():
        (raw_dir / name).write_bytes(body)
        print(f"wrote {raw_dir / name}", file=sys.stderr)


def upload_s3(tables: dict[str, bytes], bucket: str) -> None:
    """Upload to s3://bucket/01_raw/, creating the bucket when it is missing."""
    import boto3  # only needed here

    s3 = boto3.client("s3")
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        region = s3.meta.region_name
        extra = (
            {"CreateBucketConfiguration": {"LocationConstraint": region}}
            if region and region != "us-east-1"
            else {}
        )
        s3.create_bucket(Bucket=bucket, **extra)
    for name, body in tables.items():
        s3.put_object(Bucket=bucket, Key=f"01_raw/{name}", Body=body)
        print(f"uploaded s3://{bucket}/01_raw/{name}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RAW_DIR, help="local folder (default: data/01_raw)")
    parser.add_argument("--s3", metavar="BUCKET", help="also upload to s3://BUCKET/01_raw/")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)

    tables = make_tables(args.seed)
    write_local(tables, args.out)
    if args.s3:
        upload_s3(tables, args.s3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
