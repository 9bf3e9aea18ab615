/** Every viewer part has an explicit lifecycle: init once, destroy exactly once. */

export interface ViewerModule {
  init(): void | Promise<void>;
  destroy(): void;
}
