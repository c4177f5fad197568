"""Static data for the product categories of the synthetic shop.

Pure data, no randomness: the generators in ``catalog.py`` draw from these tables, and
``text.py`` reads the grammar fields (``plural``, ``singular``) to write correct sentences.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CategorySpec:
    """Everything the generators need to know about one product category."""

    name: str
    """Category name as shown to users, plural and lower case: ``"desk lamps"``."""
    code: str
    """Three-letter prefix of the SKU: ``"LMP"``."""
    singular: str
    """How one item is called in a sentence: ``"desk lamp"``, or ``"headphones"``."""
    plural: bool
    """True when one item takes plural grammar ("they are"): headphones, shoes."""
    nouns: tuple[str, ...]
    """Product-type nouns that end a product name: ``"LED Desk Lamp"``."""
    brands: tuple[str, ...]
    price_range: tuple[float, float]
    """Lowest and highest list price in dollars; every low end is above any shipping fee."""
    warranty_months: tuple[int, ...]
    attributes: tuple[tuple[str, str], ...]
    """Pairs (selling point, aspect): the point is what a listing says ("long battery
    life"), the aspect is what a review talks about ("battery life")."""
    uses: tuple[str, ...]
    """What the product is good for, to finish "made for ..." sentences."""


CATEGORIES: tuple[CategorySpec, ...] = (
    CategorySpec(
        name="headphones",
        code="HDP",
        singular="headphones",
        plural=True,
        nouns=("Wireless Headphones", "Over-Ear Headphones", "Noise-Cancelling Headphones",
               "Studio Headphones", "Wireless Earbuds"),
        brands=("Aurora", "Sonique", "Veltro", "Kestrel", "Bassline"),
        price_range=(29.0, 399.0),
        warranty_months=(12, 24),
        attributes=(
            ("noise cancelling", "noise cancelling"),
            ("long battery life", "battery life"),
            ("comfortable ear cushions", "ear cushions"),
            ("deep bass", "bass"),
            ("a clear microphone", "microphone"),
            ("a foldable design", "folding design"),
            ("a stable Bluetooth connection", "Bluetooth connection"),
            ("multipoint pairing", "multipoint pairing"),
        ),
        uses=("daily commutes", "long flights", "focused work", "late-night listening"),
    ),
    CategorySpec(
        name="laptops",
        code="LAP",
        singular="laptop",
        plural=False,
        nouns=("Laptop", "Ultrabook", "Gaming Laptop", "Notebook", "2-in-1 Laptop"),
        brands=("Novatek", "Lumina", "Corvex", "Helix", "Pinecrest"),
        price_range=(399.0, 2499.0),
        warranty_months=(12, 24, 36),
        attributes=(
            ("a bright display", "display"),
            ("long battery life", "battery life"),
            ("a backlit keyboard", "keyboard"),
            ("fast SSD storage", "storage speed"),
            ("16 GB of memory", "performance"),
            ("a lightweight aluminum body", "build quality"),
            ("quiet cooling", "cooling"),
            ("a responsive trackpad", "trackpad"),
        ),
        uses=("work and study", "travel", "creative projects", "gaming after hours"),
    ),
    CategorySpec(
        name="phones",
        code="PHN",
        singular="phone",
        plural=False,
        nouns=("Smartphone", "5G Smartphone", "Compact Phone", "Camera Phone"),
        brands=("Zephyr", "Orbit", "Nexa", "Tallis", "Vireo"),
        price_range=(149.0, 1299.0),
        warranty_months=(12, 24),
        attributes=(
            ("a sharp OLED screen", "screen"),
            ("a triple camera system", "camera"),
            ("an all-day battery", "battery"),
            ("fast charging", "charging speed"),
            ("water resistance", "water resistance"),
            ("plenty of storage", "storage"),
            ("reliable face unlock", "face unlock"),
            ("a slim design", "design"),
        ),
        uses=("busy days", "mobile photography", "staying connected", "streaming on the go"),
    ),
    CategorySpec(
        name="cameras",
        code="CAM",
        singular="camera",
        plural=False,
        nouns=("Mirrorless Camera", "Digital Camera", "Action Camera", "Compact Camera",
               "Vlogging Camera"),
        brands=("Optica", "Lenzo", "Brightfield", "Falcon", "Kairo"),
        price_range=(199.0, 2199.0),
        warranty_months=(12, 24),
        attributes=(
            ("fast autofocus", "autofocus"),
            ("4K video", "video quality"),
            ("image stabilization", "stabilization"),
            ("a flip-out screen", "screen"),
            ("weather sealing", "weather sealing"),
            ("a large sensor", "image quality"),
            ("dual card slots", "card slots"),
            ("long battery life", "battery life"),
        ),
        uses=("travel photography", "family events", "vlogging", "outdoor adventures"),
    ),
    CategorySpec(
        name="coffee makers",
        code="COF",
        singular="coffee maker",
        plural=False,
        nouns=("Coffee Maker", "Espresso Machine", "Drip Coffee Maker", "Pour-Over Brewer",
               "Single-Serve Brewer"),
        brands=("Brewster", "Crema", "Morningside", "Kettleby", "Roastwell"),
        price_range=(25.0, 699.0),
        warranty_months=(6, 12, 24),
        attributes=(
            ("a programmable timer", "timer"),
            ("a built-in grinder", "grinder"),
            ("a milk frother", "milk frother"),
            ("a thermal carafe", "carafe"),
            ("quick brewing", "brewing speed"),
            ("easy cleaning", "cleanup"),
            ("a compact footprint", "size"),
            ("adjustable strength", "strength control"),
        ),
        uses=("busy mornings", "small kitchens", "weekend brunch", "the office break room"),
    ),
    CategorySpec(
        name="backpacks",
        code="BAG",
        singular="backpack",
        plural=False,
        nouns=("Travel Backpack", "Laptop Backpack", "Daypack", "Hiking Pack",
               "Commuter Backpack"),
        brands=("Trailmark", "Nomada", "Ridgeway", "Packwell", "Summitline"),
        price_range=(24.0, 249.0),
        warranty_months=(12, 24, 60),
        attributes=(
            ("a padded laptop sleeve", "laptop sleeve"),
            ("water-resistant fabric", "fabric"),
            ("padded shoulder straps", "shoulder straps"),
            ("lots of pockets", "pocket layout"),
            ("lockable zippers", "zippers"),
            ("a chest strap", "chest strap"),
            ("a ventilated back panel", "back panel"),
            ("a luggage pass-through", "luggage pass-through"),
        ),
        uses=("daily commutes", "weekend hikes", "carry-on travel", "campus life"),
    ),
    CategorySpec(
        name="running shoes",
        code="RUN",
        singular="running shoes",
        plural=True,
        nouns=("Running Shoes", "Trail Running Shoes", "Road Running Shoes", "Racing Flats",
               "Training Shoes"),
        brands=("Stride", "Fleetfoot", "Apex", "Tempo", "Cadence"),
        price_range=(49.0, 249.0),
        warranty_months=(3, 6),
        attributes=(
            ("responsive cushioning", "cushioning"),
            ("a breathable mesh upper", "upper"),
            ("a grippy outsole", "grip"),
            ("a wide toe box", "toe box"),
            ("lightweight foam", "weight"),
            ("reflective details", "reflective details"),
            ("solid arch support", "arch support"),
            ("a carbon plate", "carbon plate"),
        ),
        uses=("easy runs", "race day", "muddy trails", "gym sessions"),
    ),
    CategorySpec(
        name="desk lamps",
        code="LMP",
        singular="desk lamp",
        plural=False,
        nouns=("LED Desk Lamp", "Desk Lamp", "Architect Lamp", "Clamp Lamp", "Reading Lamp"),
        brands=("Lumen", "Glowhaus", "Brightline", "Halo", "Beacon"),
        price_range=(15.0, 179.0),
        warranty_months=(12, 24),
        attributes=(
            ("adjustable brightness", "brightness control"),
            ("warm and cool color modes", "color modes"),
            ("a flexible arm", "arm"),
            ("a USB charging port", "USB port"),
            ("touch controls", "touch controls"),
            ("an auto-off timer", "timer"),
            ("flicker-free light", "light quality"),
            ("a weighted base", "base"),
        ),
        uses=("late study sessions", "the home office", "reading in bed", "crafting"),
    ),
    CategorySpec(
        name="smartwatches",
        code="WCH",
        singular="smartwatch",
        plural=False,
        nouns=("Smartwatch", "Fitness Watch", "GPS Watch", "Sport Watch"),
        brands=("Pulse", "Chronos", "Vitalis", "Orbit", "Tempo"),
        price_range=(79.0, 699.0),
        warranty_months=(12, 24),
        attributes=(
            ("heart rate tracking", "heart rate sensor"),
            ("built-in GPS", "GPS"),
            ("sleep tracking", "sleep tracking"),
            ("a week of battery life", "battery life"),
            ("an always-on display", "display"),
            ("water resistance", "water resistance"),
            ("contactless payments", "payments"),
            ("swappable straps", "strap"),
        ),
        uses=("marathon training", "everyday fitness", "busy workdays", "open-water swims"),
    ),
    CategorySpec(
        name="blenders",
        code="BLN",
        singular="blender",
        plural=False,
        nouns=("Blender", "Personal Blender", "High-Speed Blender", "Immersion Blender"),
        brands=("Vortex", "Blendwell", "Kitcheno", "Whirl", "Crema"),
        price_range=(29.0, 499.0),
        warranty_months=(12, 24, 60),
        attributes=(
            ("a powerful motor", "motor"),
            ("a large glass jar", "jar"),
            ("stainless steel blades", "blades"),
            ("preset programs", "presets"),
            ("quiet operation", "noise level"),
            ("dishwasher-safe parts", "cleanup"),
            ("a to-go cup", "to-go cup"),
            ("variable speed control", "speed control"),
        ),
        uses=("morning smoothies", "soups and sauces", "meal prep", "frozen desserts"),
    ),
)

CATEGORY_BY_NAME: dict[str, CategorySpec] = {spec.name: spec for spec in CATEGORIES}
