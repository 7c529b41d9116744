//! A multipart upload that is aborted when it is dropped unfinished.
//!
//! A request's future is dropped when its client goes away, in the middle of a write. S3
//! keeps an unfinished multipart upload (and bills its parts) until it is aborted, and no
//! listing the collector reads shows it; so every multipart write is held by one of these.

use object_store::WriteMultipart;

use crate::StorageError;

pub(crate) struct Multipart(Option<WriteMultipart>);

impl Multipart {
    pub(crate) fn new(writer: WriteMultipart) -> Multipart {
        Multipart(Some(writer))
    }

    pub(crate) fn writer(&mut self) -> &mut WriteMultipart {
        self.0.as_mut().expect("only finish and abort take the writer, and they consume self")
    }

    pub(crate) async fn finish(mut self) -> Result<(), StorageError> {
        // The parts still in flight are awaited while the guard holds the writer: that wait is
        // the long part of finishing, and a request dropped during it must still abort.
        self.writer().wait_for_capacity(0).await?;
        let writer = self.0.take().expect("finish takes the writer once");
        writer.finish().await?;
        Ok(())
    }

    /// Gives the upload up now (after a failed write), logging a failure to.
    pub(crate) async fn abort(mut self) {
        if let Some(writer) = self.0.take() {
            if let Err(error) = writer.abort().await {
                tracing::warn!(%error, "could not abort a failed multipart upload");
            }
        }
    }
}

impl Drop for Multipart {
    fn drop(&mut self) {
        let Some(writer) = self.0.take() else { return };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(error) = writer.abort().await {
                        tracing::warn!(%error, "could not abort an abandoned multipart upload");
                    }
                });
            }
            Err(_) => {
                tracing::warn!("a multipart upload was abandoned outside a runtime and stays until S3 expires it")
            }
        }
    }
}
