"""Raw data for the real spaceflights-pandas project (kedro-starters), which ships none:
small companies, reviews and shuttles tables with the columns its nodes use, in the
starter's raw formats (CSV, CSV, Excel).

Imported by python/tests; run by the Rust tests to upload the files to (moto's) S3:

    python tests/support/spaceflights_pandas_data.py --s3 BUCKET --prefix PREFIX

puts them at ``s3://BUCKET/PREFIX/01_raw/<file>`` (creating the bucket).
"""

from __future__ import annotations

import argparse
import io


def raw_frames():
    """Small companies, reviews and shuttles tables with the columns the
    project's data_processing nodes use, in the starter's raw formats."""
    import pandas as pd

    companies = pd.DataFrame({
        "id": [1, 2, 3, 4],
        "company_rating": ["100%", "67%", None, "90%"],
        "company_location": ["Niue", "Anguilla", "Russian Federation", "Barbados"],
        "total_fleet_count": [1.0, 2.0, 3.0, 1.0],
        "iata_approved": ["f", "t", "t", "f"],
    })
    shuttles = pd.DataFrame({
        "id": [10, 11, 12, 13, 14],
        "shuttle_location": ["Sao Tome", "Wallis", "Niue", "Malta", "Chad"],
        "shuttle_type": ["Type V5", "Type V5", "Type F5", "Type V2", "Type F5"],
        "engine_type": ["Quantum", "Quantum", "Plasma", "Quantum", "Plasma"],
        "engine_vendor": ["ThetaBase Services"] * 5,
        "engines": [1.0, 2.0, 1.0, 3.0, 2.0],
        "passenger_capacity": [2, 4, 6, 8, 3],
        "cancellation_policy": ["strict", "flexible", "moderate", "strict", "strict"],
        "crew": [1.0, 2.0, 3.0, 4.0, 1.0],
        "d_check_complete": ["f", "t", "f", "t", "f"],
        "moon_clearance_complete": ["f", "f", "t", "t", "f"],
        "price": ["$1,325.0", "$1,780.0", "$1,715.0", "$4,953.0", "$2,000.0"],
        "company_id": [1, 2, 3, 4, 2],
    })
    reviews = pd.DataFrame({
        "shuttle_id": [10, 11, 12, 13, 99],
        "review_scores_rating": [91.0, 96.0, 80.0, 100.0, 70.0],
        "review_scores_comfort": [10.0, 10.0, 8.0, 10.0, 7.0],
        "review_scores_amenities": [9.0, 10.0, 8.0, 10.0, 7.0],
        "review_scores_trip": [9.0, 10.0, 8.0, 10.0, 7.0],
        "review_scores_crew": [9.0, 10.0, 8.0, 10.0, 7.0],
        "review_scores_location": [9.0, 10.0, 8.0, 10.0, 7.0],
        "review_scores_price": [9.0, 9.0, 8.0, 10.0, 7.0],
        "number_of_reviews": [26, 61, 3, 12, 1],
        "reviews_per_month": [0.77, 0.62, 0.1, 1.5, 0.01],
    })
    return companies, reviews, shuttles


def raw_files() -> dict:
    """raw_frames() as the files the catalog reads: S3 key -> bytes."""
    companies, reviews, shuttles = raw_frames()
    excel = io.BytesIO()
    shuttles.to_excel(excel, index=False, engine="openpyxl")
    return {
        "01_raw/companies.csv": companies.to_csv(index=False).encode(),
        "01_raw/reviews.csv": reviews.to_csv(index=False).encode(),
        "01_raw/shuttles.xlsx": excel.getvalue(),
    }


def upload(bucket: str, prefix: str) -> None:
    """Creates the bucket (in the client's region) and puts raw_files() under the prefix."""
    import boto3

    s3 = boto3.client("s3")
    region = s3.meta.region_name
    options = {} if region == "us-east-1" else {
        "CreateBucketConfiguration": {"LocationConstraint": region}
    }
    s3.create_bucket(Bucket=bucket, **options)
    for key, body in raw_files().items():
        s3.put_object(Bucket=bucket, Key=f"{prefix.strip('/')}/{key}".lstrip("/"), Body=body)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--s3", required=True, metavar="BUCKET")
    parser.add_argument("--prefix", default="")
    args = parser.parse_args()
    upload(args.s3, args.prefix)
