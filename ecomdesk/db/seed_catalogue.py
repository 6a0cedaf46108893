"""The demo shop's product catalogue: categories, their suppliers, price ranges and name parts.

Kept apart from the seeding code so the word lists do not bury it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Category:
    name: str
    prefix: str
    share: float
    price_range: tuple[float, float]
    #: `{a}`djective, `{m}`aterial or brand, `{n}`oun and `{v}`ariant.
    pattern: str
    adjectives: tuple[str, ...]
    materials: tuple[str, ...]
    nouns: tuple[str, ...]
    variants: tuple[str, ...]
    #: The category's main supplier first; the general wholesaler last.
    suppliers: tuple[str, ...]


def variants(first: Sequence[str], second: Sequence[str]) -> tuple[str, ...]:
    return tuple(f"{a}, {b}" for a in first for b in second)


WHOLESALER: Final = "Central Wholesale Europe"
CATEGORIES: Final[tuple[Category, ...]] = (
    Category(
        "Apparel", "APP", 0.16, (9.0, 149.0), "{a} {m} {n} ({v})",
        ("Classic", "Slim-Fit", "Relaxed", "Vintage", "Essential", "Lightweight", "Oversized", "Tailored",
         "Everyday", "Heritage"),
        ("Cotton", "Linen", "Merino", "Denim", "Fleece", "Organic Cotton", "Jersey", "Corduroy"),
        ("T-Shirt", "Hoodie", "Chinos", "Jacket", "Dress", "Sweater", "Shirt", "Scarf", "Jeans", "Cardigan",
         "Polo Shirt", "Shorts"),
        variants(("Black", "White", "Navy", "Grey Melange", "Olive", "Burgundy", "Sand"),
                  ("XS", "S", "M", "L", "XL")),
        ("Nordwind Textil GmbH", "Atlas Apparel Co.", WHOLESALER),
    ),
    Category(
        "Footwear", "FTW", 0.08, (24.0, 220.0), "{a} {m} {n} ({v})",
        ("Running", "Trail", "Casual", "Waterproof", "Minimalist", "Classic", "Hiking", "Retro", "Everyday"),
        ("Leather", "Suede", "Canvas", "Mesh", "Knit", "Nubuck", "Vegan Leather"),
        ("Sneakers", "Boots", "Chelsea Boots", "Loafers", "Sandals", "Slippers", "Trainers", "Derby Shoes",
         "Ankle Boots"),
        variants(("Black", "Brown", "White", "Navy"), tuple(f"EU {size}" for size in range(36, 47))),
        ("Stride Footwear Ltd.", "Atlas Apparel Co.", WHOLESALER),
    ),
    Category(
        "Electronics", "ELE", 0.10, (9.0, 899.0), "{m} {a} {n} ({v})",
        ("Wireless", "Smart", "Portable", "Compact", "Noise-Cancelling", "Fast-Charging", "Ultra-Slim",
         "Rugged"),
        ("Voltix", "Aerotune", "Pixelon", "Kinetra", "Nordlicht", "Brightwave"),
        ("Headphones", "Bluetooth Speaker", "Power Bank", "USB-C Hub", "Webcam", "Keyboard", "Mouse",
         "Smartwatch", "E-Reader", "Charger", "Earbuds", "Action Camera", "Monitor Light Bar"),
        ("Black", "White", "Graphite", "Silver", "Midnight Blue", "Rose Gold"),
        ("Voltix Electronics", "Brightline Distribution", WHOLESALER),
    ),
    Category(
        "Home & Kitchen", "HOM", 0.14, (4.0, 350.0), "{a} {m} {n} ({v})",
        ("Nonstick", "Heavy-Duty", "Stackable", "Handcrafted", "Minimalist", "Professional", "Rustic",
         "Insulated"),
        ("Stainless Steel", "Cast Iron", "Ceramic", "Bamboo", "Glass", "Enamel", "Copper", "Oak"),
        ("Frying Pan", "Chef's Knife", "Cutting Board", "Mixing Bowl Set", "Coffee Grinder", "French Press",
         "Kettle", "Dutch Oven", "Salad Bowl", "Spice Rack", "Storage Jar", "Serving Tray"),
        ("Small", "Medium", "Large", "Set of 2", "Set of 4"),
        ("Kesselring Haushaltswaren", "Maple & Oak Home", WHOLESALER),
    ),
    Category(
        "Beauty", "BEA", 0.09, (3.0, 90.0), "{m} {a} {n} ({v})",
        ("Hydrating", "Nourishing", "Soothing", "Brightening", "Gentle", "Matte", "Repairing",
         "Fragrance-Free"),
        ("Lumière", "Verde Botanica", "Aurelia", "Mirabelle", "Pure Alpine"),
        ("Face Cream", "Serum", "Shampoo", "Conditioner", "Lip Balm", "Body Lotion", "Cleansing Gel",
         "Hand Cream", "Eye Cream", "Sunscreen SPF 50", "Face Mask"),
        ("30 ml", "50 ml", "100 ml", "200 ml", "250 ml", "Travel Size"),
        ("Lumen Beauty Labs", "Brightline Distribution", WHOLESALER),
    ),
    Category(
        "Sports & Outdoors", "SPO", 0.09, (5.0, 450.0), "{a} {m} {n} ({v})",
        ("Ultralight", "Insulated", "Adjustable", "Pro", "Compact", "All-Weather", "Foldable", "Breathable"),
        ("Nylon", "Aluminium", "Carbon", "Ripstop", "Neoprene", "Steel", "Recycled"),
        ("Yoga Mat", "Tent", "Sleeping Bag", "Backpack", "Water Bottle", "Dumbbell Set", "Trekking Poles",
         "Bike Helmet", "Resistance Bands", "Camping Stove", "Headlamp"),
        ("Black", "Forest Green", "Orange", "Blue", "Grey", "One Size"),
        ("Peak Outfitters", "Blauberg Sport", WHOLESALER),
    ),
    Category(
        "Toys", "TOY", 0.08, (4.0, 150.0), "{a} {m} {n} ({v})",
        ("Wooden", "Colourful", "Magnetic", "Educational", "Deluxe", "Mini", "Classic", "Interactive"),
        ("Beech Wood", "Plush", "Cardboard", "Recycled Plastic", "Felt", "Tin"),
        ("Building Blocks", "Puzzle", "Train Set", "Teddy Bear", "Board Game", "Kite", "Doll House",
         "Race Car", "Stacking Rings", "Marble Run"),
        ("Ages 3+", "Ages 5+", "Ages 8+", "Ages 12+"),
        ("Tinker Toys Wholesale", WHOLESALER),
    ),
    Category(
        "Books", "BOO", 0.12, (6.0, 60.0), "{a} {m} {n} ({v})",
        ("The Silent", "The Hidden", "The Last", "A Quiet", "The Little", "The Lost", "The Northern",
         "The Curious"),
        ("Garden", "River", "Kitchen", "Harbour", "Mountain", "City", "Forest", "Island", "Lighthouse"),
        ("Chronicles", "Handbook", "Companion", "Cookbook", "Atlas", "Mysteries", "Almanac", "Diaries",
         "Field Guide", "Stories"),
        ("Paperback", "Hardcover", "Large Print", "Pocket Edition"),
        ("Harbor Books Distribution", WHOLESALER),
    ),
    Category(
        "Garden", "GAR", 0.05, (3.0, 400.0), "{a} {m} {n} ({v})",
        ("Heavy-Duty", "Ergonomic", "Solar", "Raised", "Weatherproof", "Self-Watering", "Foldable"),
        ("Galvanised", "Terracotta", "Teak", "Stainless", "Rattan", "Zinc"),
        ("Planter", "Hose Reel", "Pruning Shears", "Watering Can", "Bird Feeder", "Garden Bench", "Lantern",
         "Trowel", "Compost Bin", "Plant Stand"),
        ("Small", "Medium", "Large", "Set of 3"),
        ("Greenfield Garden Supply", "Maple & Oak Home", WHOLESALER),
    ),
    Category(
        "Office", "OFF", 0.07, (1.5, 250.0), "{a} {m} {n} ({v})",
        ("Ergonomic", "Refillable", "Dotted", "Adjustable", "Minimalist", "Premium", "Compact"),
        ("Recycled", "Aluminium", "Kraft", "Leather", "Walnut", "Steel"),
        ("Notebook", "Desk Organizer", "Monitor Stand", "Fountain Pen", "Stapler", "Desk Lamp", "File Box",
         "Pen Holder", "Planner", "Document Tray"),
        ("A4", "A5", "Black", "White", "Pack of 3", "Pack of 10"),
        ("Papierwerk Bürobedarf", WHOLESALER),
    ),
    Category(
        "Pet Supplies", "PET", 0.04, (2.0, 120.0), "{a} {m} {n} ({v})",
        ("Cozy", "Durable", "Orthopedic", "Interactive", "Reflective", "Washable"),
        ("Plush", "Rope", "Rubber", "Nylon", "Bamboo"),
        ("Dog Bed", "Cat Tree", "Chew Toy", "Leash", "Collar", "Food Bowl", "Scratching Post", "Pet Carrier"),
        ("Small", "Medium", "Large"),
        ("Pawsome Pet Supply", WHOLESALER),
    ),
)  # fmt: skip
