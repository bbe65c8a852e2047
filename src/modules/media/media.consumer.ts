import { defineConsumer, type Consumer } from '../../events/consumer.ts';
import type { MediaService } from './media.service.ts';

/**
 * Removes the files of deleted media after the deletion committed: a post's pictures when the
 * post is deleted, an upload when its owner deletes it. Removing is idempotent (files first,
 * then rows), so a redelivery or a retry after a storage failure finishes the job.
 */
export function mediaConsumer(media: MediaService): Consumer {
  return defineConsumer('media', {
    'post.deleted': ({ post_id }) => media.removeMediaOfPost(post_id),
    'media.deleted': ({ media_id }) => media.removeMedia(media_id),
  });
}
