"""Countries (ISO 3166-1 alpha-2, via pycountry) and the regions providers serve."""

from __future__ import annotations

import pycountry

REGIONS: tuple[str, ...] = (
    "North America",
    "Latin America",
    "Europe",
    "Asia-Pacific",
    "Middle East & Africa",
)

_REGION_OF_COUNTRY: dict[str, str] = {
    **dict.fromkeys(["US", "CA"], "North America"),
    **dict.fromkeys(["MX", "BR", "AR", "CL", "CO", "PE", "UY", "CR", "PA"], "Latin America"),
    **dict.fromkeys(
        [
            "GB", "IE", "FR", "DE", "NL", "BE", "LU", "CH", "AT", "IT", "ES", "PT", "DK", "SE",
            "NO", "FI", "IS", "PL", "CZ", "SK", "HU", "RO", "BG", "GR", "HR", "SI", "RS", "EE",
            "LV", "LT", "UA", "MD", "GE", "RU", "TR", "MT", "CY",
        ],
        "Europe",
    ),
    **dict.fromkeys(
        [
            "CN", "HK", "TW", "JP", "KR", "SG", "IN", "AU", "NZ", "TH", "MY", "VN", "PH", "ID",
            "PK", "BD", "LK",
        ],
        "Asia-Pacific",
    ),
    **dict.fromkeys(
        ["IL", "AE", "SA", "QA", "EG", "ZA", "KE", "NG", "MA", "TN", "JO", "LB"],
        "Middle East & Africa",
    ),
}  # fmt: skip


def country_name(code: str) -> str:
    country = pycountry.countries.get(alpha_2=code.upper())
    return getattr(country, "common_name", None) or (country.name if country else code)


def is_country(code: str) -> bool:
    return len(code) == 2 and pycountry.countries.get(alpha_2=code.upper()) is not None


def region_of(code: str) -> str | None:
    return _REGION_OF_COUNTRY.get(code.upper())


def countries_in(region: str) -> frozenset[str]:
    return frozenset(c for c, r in _REGION_OF_COUNTRY.items() if r == region)
