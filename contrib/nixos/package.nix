# sync4loong as a Nix package: a buildNpmPackage of this repository (`npm ci`, then
# `npm run build`, which compiles TypeScript into dist/).
#
#   pkgs.callPackage ./contrib/nixos/package.nix { }            # from a checkout
#   sync4loong.packages.${system}.default                        # from the flake
#
# npmDepsHash is lib.fakeHash until someone builds it with nixpkgs at hand: the first build
# fails and prints the real hash of package-lock.json's dependencies; put it here (it
# changes whenever package-lock.json does). Not built on the machine it was written on
# (no nixpkgs there); see docs/nix.md for what was checked.
{
  lib,
  buildNpmPackage,
  nodejs_20,
  makeWrapper,
  src ? ../..,
  version ? "0.1.0",
  npmDepsHash ? lib.fakeHash,
}:
buildNpmPackage {
  pname = "sync4loong";
  inherit version src npmDepsHash;
  nodejs = nodejs_20;
  nativeBuildInputs = [ makeWrapper ];

  # npm's own install step packs only what `npm pack` would publish, and dist/ is
  # git-ignored: install the built tree by hand instead.
  installPhase = ''
    runHook preInstall
    npm prune --omit=dev --no-audit --no-fund
    mkdir -p $out/lib/sync4loong/dist $out/bin
    cp -r package.json bin node_modules $out/lib/sync4loong/
    cp -r dist/src $out/lib/sync4loong/dist/
    makeWrapper ${nodejs_20}/bin/node $out/bin/sync4loong --add-flags $out/lib/sync4loong/bin/sync4loong
    runHook postInstall
  '';

  meta = {
    description = "Push local folders to S3-compatible storage through a Redis (BullMQ) job queue";
    homepage = "https://github.com/darkyzhou/sync4loong";
    license = lib.licenses.mit;
    mainProgram = "sync4loong";
    platforms = lib.platforms.linux ++ lib.platforms.darwin;
  };
}
