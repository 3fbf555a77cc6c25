// Jest runs the tests as ES modules. @nestjs/throttler is CommonJS and require()s the ESM-only
// @nestjs/common and @nestjs/core: Jest cannot do that on Node.js 22, and on Node.js 24 it refuses
// while the test's own imports of those modules are still being linked ("in a cycle"). This Jest
// transform points the throttler's requires at the modules jest-require-esm.setup.ts imported
// before the test, so the throttler shares the test's NestJS (one HttpException class, one Reflector).
const NEST_REQUIRE = /require\((["'])(@nestjs\/(?:common|core))\1\)/g;

module.exports = {
  process(source) {
    const code = source.replace(
      NEST_REQUIRE,
      (_, _quote, name) => `globalThis[Symbol.for('nest-esm')][${JSON.stringify(name)}]`,
    );
    return { code };
  },
};
