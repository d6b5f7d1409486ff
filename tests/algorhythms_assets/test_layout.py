"""The code location gathers its definitions by module: one asset module per group, checks
beside them, nothing listed by hand."""

from algorhythms_assets.definitions import defs


def test_each_asset_module_is_named_for_its_group():
    # A multi-asset writing tables of several groups lives in the module of one of them.
    for spec in defs.resolve_all_asset_specs():
        assets_def = defs.resolve_assets_def(spec.key)
        module = assets_def.op.compute_fn.decorated_fn.__module__
        groups = set(assets_def.group_names_by_key.values())
        assert module in {f"algorhythms_assets.assets.{g}" for g in groups}, spec.key


def test_every_asset_has_a_one_line_description():
    for spec in defs.resolve_all_asset_specs():
        assert spec.description and spec.description.strip(), spec.key


def test_the_definitions_hold_every_asset_and_check_of_their_packages():
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert keys == {
        "raw_mpd_slices",
        "track_metadata",
        "cooccurrence_edges",
        "gcn_embeddings",
        "feature_mlp",
        "playlist_vectors",
        "embedding_map",
        "track_neighbors",
        "title_tracks",
        "playlist_tables",
        "playlist_ranker",
        "recommendation_eval",
        "published_version",
    }
    checks = defs.resolve_asset_graph().asset_check_keys
    assert {c.asset_key.to_user_string() for c in checks} == {
        "raw_mpd_slices",
        "track_metadata",
        "cooccurrence_edges",
        "gcn_embeddings",
        "playlist_vectors",
        "embedding_map",
        "recommendation_eval",
        "published_version",
    }
    assert len(checks) == 16
