from cifer import apikeys


def test_generated_keys_have_the_seeds_format():
    test_key, live_key = apikeys.generate_api_key(live=False), apikeys.generate_api_key(live=True)
    assert test_key.startswith("sk_test_") and live_key.startswith("sk_live_")
    assert len(test_key) == len(live_key) == 64
    assert apikeys.is_well_formed(test_key) and apikeys.is_well_formed(live_key)
    assert test_key != apikeys.generate_api_key(live=False)


def test_malformed_keys_are_refused():
    good = apikeys.generate_api_key(live=False)
    for bad in [good[:-1], good + "a", "sk_prod_" + good[8:], good[:-1] + "-", ""]:
        assert not apikeys.is_well_formed(bad)


def test_a_key_matches_only_its_own_hash():
    key = apikeys.generate_api_key(live=True)
    stored = apikeys.hash_api_key(key)
    assert apikeys.matches(key, stored)
    assert not apikeys.matches(apikeys.generate_api_key(live=True), stored)
    assert key.encode() not in stored
