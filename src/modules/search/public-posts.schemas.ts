/** The broadcast that tells every API node a public post was written, edited or deleted. */
export const PUBLIC_POST_BROADCAST = 'public.post';

/** What the broadcast carries: ids and tags only; nodes read the post as each viewer sees it. */
export interface PublicPostNews {
  /** The domain event's id: a redelivered event is recognised by each node. */
  event_id: string;
  /**
   * `hidden`: an edit left the post out of public view (it may never have been in it: nodes
   * withdraw it only where they showed it).
   */
  kind: 'created' | 'edited' | 'deleted' | 'hidden';
  post_id: string;
  author_id: string;
  /** The post's tags now (empty when it is gone or hidden). */
  tags: string[];
}
